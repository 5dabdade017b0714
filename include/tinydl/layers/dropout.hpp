#pragma once
/// @file dropout.hpp
/// `Dropout`: inverted dropout (PyTorch's `nn.Dropout`). In training each element is zeroed with
/// probability `rate` and the rest are scaled by 1 / (1 - rate); in evaluation it is the identity.
///
///     forward    y = x * mask / (1 - rate)           backward   dx = dy * mask / (1 - rate)
///
/// The mask of training step s is drawn from the counter-based RNG on stream (s << 32 | stream),
/// where `stream` is the one given at build: the same seed, step and layer give the same mask
/// with any number of threads or processes, and a resumed run can restore the step with `set_step`.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/core/scratch.hpp"
#include "tinydl/kernels/dropout.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Inverted dropout with drop probability `rate` in [0, 1].
template <typename T>
class Dropout : public Layer<T> {
 public:
  explicit Dropout(double rate) : rate_(rate) {
    check<ConfigError>(rate >= 0 && rate <= 1, "Dropout: rate must be in [0, 1], got ", rate);
  }

  std::string type() const override { return "Dropout"; }
  double rate() const { return rate_; }

  /// The number of training forward passes so far: it selects the next mask.
  std::uint64_t step() const { return step_; }
  void set_step(std::uint64_t step) { step_ = step; }

  /// The step is the one counter a training state saves.
  std::vector<std::uint64_t> counters() const override { return {step_}; }
  void set_counters(const std::vector<std::uint64_t>& values) override { step_ = values.at(0); }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() >= 1, this->who(), ": empty input shape");
    return input;
  }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    ensure_capacity(mask_, this->input_.with_batch(max_batch).numel());
  }

  nlohmann::json config() const override { return {{"rate", rate_}}; }

  /// Not training, dropout is the identity: nothing to fold, nothing to copy.
  bool fold_into(OutputStage<T>&) const override { return true; }
  bool passes_through_in_eval() const override { return true; }

 protected:
  void build_impl(const Shape&, const CounterRng& rng, std::uint64_t stream) override {
    rng_ = rng;
    stream_ = stream & 0xFFFFFFFFu;
  }

  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode mode) override {
    masked_ = mode == Mode::train && rate_ > 0;
    if (!masked_) {
      std::copy(x.begin(), x.end(), y.begin());
      return;
    }
    ensure_capacity(mask_, x.size());
    // In data-parallel training, element i of this process's part is element offset * item + i
    // of the global batch: the mask is the one a single process would draw.
    const BatchShards* shards = this->batch_shards();
    const std::size_t first = shards ? shards->offset() * x.shape().item_numel() : 0;
    kernels::dropout_mask(rng_, step_ << 32 | stream_, x.size(), 1.0 - rate_, mask_.data(), first);
    kernels::dropout_apply(x.size(), x.data(), mask_.data(), scale(), y.data());
    ++step_;
  }

  void backward_impl(TensorView<const T>, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    if (masked_)
      kernels::dropout_apply(dy.size(), dy.data(), mask_.data(), scale(), dx.data());
    else
      std::copy(dy.begin(), dy.end(), dx.begin());
  }

 private:
  T scale() const { return rate_ < 1 ? static_cast<T>(1.0 / (1.0 - rate_)) : T(0); }

  double rate_;
  CounterRng rng_{0};
  std::uint64_t stream_ = static_cast<std::uint64_t>(RngStream::dropout), step_ = 0;
  AlignedBuffer<std::uint8_t> mask_;
  bool masked_ = false;  // whether the last forward applied a mask
};

}  // namespace tinydl
