#pragma once
/// @file dense.hpp
/// `Dense`: a fully connected layer (PyTorch's `nn.Linear`).
///
/// For a batch x of shape (N, in), weight W (out, in) and bias b (out):
///
///     forward    y  = x W^T + b                       y: (N, out)   one GEMM (N, T), bias in its epilogue
///     backward   dW += dy^T x                         (out, in)     GEMM (T, N)
///                db += sum over the batch of dy       (out)
///                dx  = dy W                           (N, in)       GEMM (N, N)
///
/// Data-parallel training alone (all shards on this process, core/batch_shards.hpp): the weight
/// gradient is the shard-order sum (((p_0 + p_1) + p_2) + ...) of the per-shard products p_s =
/// dy_s^T x_s. The GEMM computes C = p_s + C when told to accumulate, so one GEMM per shard into
/// the gradient gives that sum directly, with no rows of partials to write and add (3x faster
/// for the MLP than the generic shard loop of layer.hpp, and the same bits).

#include <cstddef>
#include <string>
#include <vector>

#include "tinydl/core/init.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Fully connected layer: `units` outputs, each a weighted sum of all input features plus a bias.
/// Input (N, in_features); use `Flatten` first for images.
template <typename T>
class Dense : public Layer<T> {
 public:
  /// `units` outputs; weights drawn with `init` (He normal suits a following ReLU), bias zero.
  explicit Dense(std::size_t units, bool use_bias = true, Initializer init = Initializer::he_normal)
      : units_(units), use_bias_(use_bias), init_(init) {
    check<ConfigError>(units > 0, "Dense: units must be at least 1");
  }

  std::string type() const override { return "Dense"; }
  std::size_t units() const { return units_; }
  std::size_t in_features() const { return in_features_; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 2, this->who(), ": expected input (N, features), got ", input,
                      input.rank() > 2 ? " (add a Flatten layer before it)" : "");
    check<ShapeError>(in_features_ == 0 || input[1] == in_features_, this->who(), ": expected input (N, ",
                      in_features_, "), got ", input);
    return Shape{input[0], units_};
  }

  std::uint64_t parameter_count(const Shape& input) const override {
    if (input.rank() != 2) return 0;
    const bool full = input[1] == std::numeric_limits<std::uint64_t>::max();
    return saturating_multiply(units_, full ? input[1] : std::uint64_t{input[1]} + (use_bias_ ? 1 : 0));
  }

  std::vector<Param<T>> params() override {
    std::vector<Param<T>> p{{"weight", weight_.view(), weight_grad_.view()}};
    if (use_bias_) p.push_back({"bias", bias_.view(), bias_grad_.view()});
    return p;
  }

  nlohmann::json config() const override {
    return {{"units", units_}, {"use_bias", use_bias_}, {"init", initializer_name(init_)}};
  }

 protected:
  void build_impl(const Shape& input, const CounterRng& rng, std::uint64_t stream) override {
    in_features_ = input[1];
    weight_ = Tensor<T>(Shape{units_, in_features_});
    weight_grad_ = Tensor<T>(weight_.shape());
    initialize(init_, weight_.view(), in_features_, units_, rng, stream);
    if (use_bias_) {
      bias_ = Tensor<T>(Shape{units_});
      bias_grad_ = Tensor<T>(bias_.shape());
      initialize_bias(init_, bias_.view(), in_features_, rng, stream + 1);
    }
  }

  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    kernels::GemmEpilogue<T> epilogue;
    epilogue.col_bias = use_bias_ ? bias_.data() : nullptr;
    multiply(x, y, epilogue);
  }

  bool begin_output_stage(OutputStage<T>& stage) const override {
    stage.begin(units_, use_bias_ ? bias_.data() : nullptr);
    return true;
  }

  void forward_with_stage_impl(TensorView<const T> x, TensorView<T> y, const OutputStage<T>& stage) override {
    kernels::GemmEpilogue<T> epilogue;
    epilogue.col_bias = stage.shift.data();
    epilogue.col_scale = stage.scales();
    epilogue.relu = stage.relu;
    multiply(x, y, epilogue);
  }

  /// Alone, the shard sums are done in backward_impl (see the file comment); with other
  /// processes, by the generic shard loop.
  bool handles_shards() const override {
    const BatchShards* shards = this->batch_shards();
    return shards && shards->communicator().size() == 1;
  }

  void backward_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (handles_shards()) {
      backward_alone(x, y, dy, dx);
      return;
    }
    const std::size_t n = x.shape()[0];
    using kernels::Trans;
    kernels::gemm(Trans::yes, Trans::no, units_, in_features_, n, T(1), dy.data(), units_, x.data(),
                  in_features_, T(1), weight_grad_.data(), in_features_);
    if (use_bias_) kernels::add_column_sums(n, units_, dy.data(), units_, bias_grad_.data());
    if (dx.data())
      kernels::gemm(Trans::no, Trans::no, n, in_features_, units_, T(1), dy.data(), units_, weight_.data(),
                    in_features_, T(0), dx.data(), in_features_);
  }

 private:
  /// y = x W^T, then the epilogue; with W^T packed once when prepared for inference (same bits).
  void multiply(TensorView<const T> x, TensorView<T> y, const kernels::GemmEpilogue<T>& epilogue) const {
    kernels::gemm(kernels::Trans::no, kernels::Trans::yes, x.shape()[0], units_, in_features_, T(1), x.data(),
                  in_features_, weight_.data(), in_features_, T(0), y.data(), units_, epilogue,
                  packed_weight_.empty() ? nullptr : &packed_weight_);
  }

  void prepare_inference_impl() override {
    packed_weight_ =
        kernels::PackedB<T>(kernels::Trans::yes, in_features_, units_, weight_.data(), in_features_);
  }

  /// The shard-order sums of backward on one process: dW by one accumulating GEMM per shard, db
  /// from per-shard column sums added in order, dx as usual.
  void backward_alone(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy, TensorView<T> dx) {
    using kernels::Trans;
    const BatchShards& shards = *this->batch_shards();
    if (use_bias_) ensure_capacity(shard_bias_, units_);
    for (std::size_t s = 0; s < shards.local_shards(); ++s) {
      const std::size_t begin = shards.local_begin(s), rows = shards.local_begin(s + 1) - begin;
      const T* dy_s = dy.data() + begin * units_;
      if (rows == 0 && s > 0) {  // the generic loop adds a row of zeros: so here (-0 + 0 = +0)
        for (T& g : weight_grad_) g += T(0);
      } else {
        kernels::gemm(Trans::yes, Trans::no, units_, in_features_, rows, T(1), dy_s, units_,
                      x.data() + begin * in_features_, in_features_, s == 0 ? T(0) : T(1),
                      weight_grad_.data(), in_features_);
      }
      if (!use_bias_) continue;
      T* partial = s == 0 ? bias_grad_.data() : shard_bias_.data();
      std::fill(partial, partial + units_, T(0));
      kernels::add_column_sums(rows, units_, dy_s, units_, partial);
      if (s > 0)
        for (std::size_t j = 0; j < units_; ++j) bias_grad_[j] += partial[j];
    }
    if (dx.data())
      kernels::gemm(Trans::no, Trans::no, x.shape()[0], in_features_, units_, T(1), dy.data(), units_,
                    weight_.data(), in_features_, T(0), dx.data(), in_features_);
  }

  AlignedBuffer<T> shard_bias_;  // one shard's bias gradient (backward_alone)
  std::size_t units_, in_features_ = 0;
  bool use_bias_;
  Initializer init_;
  Tensor<T> weight_, weight_grad_, bias_, bias_grad_;
  kernels::PackedB<T> packed_weight_;  // W^T in the GEMM's panels, once prepared for inference
};

}  // namespace tinydl
