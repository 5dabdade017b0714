#pragma once
/// @file batchnorm.hpp
/// `BatchNorm`: batch normalisation (PyTorch's `nn.BatchNorm1d` for (N, C) input and
/// `nn.BatchNorm2d` for (N, C, H, W) input), per feature or per channel. The math is in
/// kernels/batchnorm.hpp.
///
/// Training normalises with the batch's mean and biased variance and updates the running
/// estimates as PyTorch does (momentum 0.1, the running variance from the unbiased variance):
///
///     running_mean = (1 - momentum) * running_mean + momentum * mean
///     running_var  = (1 - momentum) * running_var  + momentum * var * M / (M - 1)
///
/// Evaluation normalises with the running estimates.
///
/// In data-parallel training (core/batch_shards.hpp) the batch statistics are those of the global
/// batch, as PyTorch's SyncBatchNorm: each process computes per-shard sums (of x, then of
/// (x - mean)^2; in backward of dy and dy * x_hat), the processes exchange them and add them in
/// shard order, so every process normalises with the same bits.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/kernels/batchnorm.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Batch normalisation with a learned scale (`weight`) and shift (`bias`) per channel.
template <typename T>
class BatchNorm : public Layer<T> {
 public:
  explicit BatchNorm(double momentum = 0.1, double eps = 1e-5) : momentum_(momentum), eps_(eps) {
    check<ConfigError>(momentum >= 0 && momentum <= 1, "BatchNorm: momentum must be in [0, 1], got ",
                       momentum);
    check<ConfigError>(eps > 0, "BatchNorm: eps must be positive, got ", eps);
  }

  std::string type() const override { return "BatchNorm"; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 2 || input.rank() == 4, this->who(),
                      ": expected input (N, features) or (N, C, H, W), got ", input);
    check<ShapeError>(channels_ == 0 || input[1] == channels_, this->who(), ": expected ", channels_,
                      " channels (axis 1), got input ", input);
    return input;
  }

  std::uint64_t parameter_count(const Shape& input) const override {
    return input.rank() >= 2 ? saturating_multiply(4, input[1]) + 1 : 0;  // 4 per channel, and the count
  }

  std::vector<Param<T>> params() override {
    return {{"weight", weight_.view(), weight_grad_.view()},
            {"bias", bias_.view(), bias_grad_.view()},
            {"running_mean", running_mean_.view()},
            {"running_var", running_var_.view()},
            {"num_batches_tracked", num_batches_tracked_.view(), {}, true}};
  }

  nlohmann::json config() const override { return {{"momentum", momentum_}, {"eps", eps_}}; }

  /// Evaluating, y = s x + t per channel with s = gamma / sqrt(running_var + eps) and
  /// t = beta - s running_mean: folded into the layer before (not after a ReLU there).
  bool fold_into(OutputStage<T>& stage) const override {
    if (stage.relu || stage.pooled || stage.channels != channels_) return false;
    for (std::size_t c = 0; c < channels_; ++c) {
      const double s =
          static_cast<double>(weight_[c]) / std::sqrt(static_cast<double>(running_var_[c]) + eps_);
      stage.then_affine(c, s, static_cast<double>(bias_[c]) - s * static_cast<double>(running_mean_[c]));
    }
    return true;
  }

 protected:
  void build_impl(const Shape& input, const CounterRng&, std::uint64_t) override {
    channels_ = input[1];
    const Shape shape{channels_};
    weight_ = Tensor<T>(shape, T(1));
    bias_ = Tensor<T>(shape);
    weight_grad_ = Tensor<T>(shape);
    bias_grad_ = Tensor<T>(shape);
    running_mean_ = Tensor<T>(shape);
    running_var_ = Tensor<T>(shape, T(1));
    num_batches_tracked_ = Tensor<T>(Shape{1});
    mean_ = Tensor<T>(shape);
    var_ = Tensor<T>(shape);
    invstd_ = Tensor<T>(shape);
  }

  bool handles_shards() const override { return true; }

  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode mode) override {
    const std::size_t n = x.shape()[0], plane = x.shape().item_numel() / channels_;
    batch_statistics_ = mode == Mode::train;
    if (batch_statistics_) {
      BatchShards* shards = this->batch_shards();
      const std::size_t count = (shards ? shards->global_batch() : n) * plane;
      check<ShapeError>(count > 1, this->who(),
                        ": training needs more than one value per channel, got input ", x.shape());
      if (shards)
        global_statistics(*shards, x, plane);
      else
        kernels::batchnorm_statistics(n, channels_, plane, x.data(), mean_.data(), var_.data());
      const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
      for (std::size_t c = 0; c < channels_; ++c) {
        invstd_[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var_[c]) + eps_));
        running_mean_[c] = static_cast<T>((1 - momentum_) * running_mean_[c] + momentum_ * mean_[c]);
        running_var_[c] = static_cast<T>((1 - momentum_) * running_var_[c] + momentum_ * var_[c] * unbias);
      }
      num_batches_tracked_[0] += T(1);
    } else {
      for (std::size_t c = 0; c < channels_; ++c) {
        mean_[c] = running_mean_[c];
        invstd_[c] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(running_var_[c]) + eps_));
      }
    }
    kernels::batchnorm_normalize(n, channels_, plane, x.data(), mean_.data(), invstd_.data(), weight_.data(),
                                 bias_.data(), y.data());
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    const std::size_t n = x.shape()[0], plane = x.shape().item_numel() / channels_;
    if (BatchShards* shards = this->batch_shards(); shards && batch_statistics_) {
      global_backward(*shards, x, dy, dx, plane);
      return;
    }
    kernels::batchnorm_backward(n, channels_, plane, x.data(), dy.data(), mean_.data(), invstd_.data(),
                                weight_.data(), batch_statistics_, dx.data(), weight_grad_.data(),
                                bias_grad_.data());
  }

 private:
  /// mean_ and var_ of the global batch from the shards' sums (two exchanges: sums, then squares).
  void global_statistics(BatchShards& shards, TensorView<const T> x, std::size_t plane) {
    const std::size_t count = shards.global_batch() * plane;
    reserve_shard_sums(shards, channels_);
    for (int pass = 0; pass < 2; ++pass) {  // 0: sum x -> mean; 1: sum (x - mean)^2 -> var
      for (std::size_t i = 0; i < shards.local_shards(); ++i) {
        const std::size_t begin = shards.local_begin(i), end = shards.local_begin(i + 1);
        kernels::batchnorm_shard_sums(
            end - begin, channels_, plane, x.data() + begin * x.shape().item_numel(),
            pass ? global_mean_.data() : nullptr, local_sums_.data() + i * channels_);
      }
      shards.sum(local_sums_.data(), channels_, all_sums_.data(), total_sums_.data());
      for (std::size_t c = 0; c < channels_; ++c) {
        const double value = total_sums_.data()[c] / static_cast<double>(count);
        if (pass == 0) {
          global_mean_.data()[c] = value;
          mean_[c] = static_cast<T>(value);
        } else {
          var_[c] = static_cast<T>(value);
        }
      }
    }
  }

  /// The training backward pass over the global batch: one exchange of sum dy and sum dy * x_hat.
  void global_backward(BatchShards& shards, TensorView<const T> x, TensorView<const T> dy, TensorView<T> dx,
                       std::size_t plane) {
    const std::size_t item = x.shape().item_numel(), row = 2 * channels_;
    reserve_shard_sums(shards, row);
    for (std::size_t i = 0; i < shards.local_shards(); ++i) {
      const std::size_t begin = shards.local_begin(i), end = shards.local_begin(i + 1);
      kernels::batchnorm_backward_shard_sums(end - begin, channels_, plane, x.data() + begin * item,
                                             dy.data() + begin * item, mean_.data(), invstd_.data(),
                                             local_sums_.data() + i * row);
    }
    shards.sum(local_sums_.data(), row, all_sums_.data(), total_sums_.data());
    for (std::size_t c = 0; c < channels_; ++c) {
      bias_grad_[c] += static_cast<T>(total_sums_.data()[c]);
      weight_grad_[c] += static_cast<T>(total_sums_.data()[channels_ + c]);
    }
    if (dx.data())
      kernels::batchnorm_backward_dx(x.shape()[0], channels_, plane, x.data(), dy.data(), mean_.data(),
                                     invstd_.data(), weight_.data(), total_sums_.data(),
                                     static_cast<double>(shards.global_batch() * plane), dx.data());
  }

  /// Buffers of the exchanges for rows of `row` sums (only grow: no allocation per step).
  void reserve_shard_sums(const BatchShards& shards, std::size_t row) {
    ensure_capacity(local_sums_, shards.local_shards() * row);
    ensure_capacity(all_sums_, shards.shards() * row);
    ensure_capacity(total_sums_, row);
    ensure_capacity(global_mean_, channels_);
  }

  double momentum_, eps_;
  std::size_t channels_ = 0;
  Tensor<T> weight_, bias_, weight_grad_, bias_grad_, running_mean_, running_var_, num_batches_tracked_;
  Tensor<T> mean_, var_, invstd_;  // of the last forward, for backward
  bool batch_statistics_ = false;
  AlignedBuffer<double> local_sums_, all_sums_, total_sums_, global_mean_;  // data-parallel exchanges
};

}  // namespace tinydl
