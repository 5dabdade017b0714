#pragma once
/// @file target_loss.hpp
/// `TargetLoss`: the loss a model trains with on float targets (a `Dataset` of targets: a
/// regression, or binary and multi-label classification) — `MeanSquaredError` or
/// `BinaryCrossEntropyWithLogits`, or none for a classifier of integer labels. One object the
/// model and `fit` call without knowing which: the mean loss, its data-parallel parts, the
/// accuracy where one is defined, and what `predict` returns.

#include <cmath>
#include <cstddef>
#include <limits>
#include <string>
#include <utility>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/losses/binary_cross_entropy_with_logits.hpp"
#include "tinydl/losses/mean_squared_error.hpp"

namespace tinydl {

/// The loss for float targets: none (the model trains on labels), MSE or BCE with logits.
template <typename T>
class TargetLoss {
 public:
  TargetLoss() = default;
  // Converting: set_loss(MeanSquaredError<T>()) and compile(optimizer, loss) take either.
  TargetLoss(MeanSquaredError<T> loss) : kind_(Kind::mse), mse_(loss) {}                         // NOLINT
  TargetLoss(BinaryCrossEntropyWithLogits<T> loss) : kind_(Kind::bce), bce_(std::move(loss)) {}  // NOLINT

  /// Whether there is none: the model trains on integer labels with softmax cross-entropy.
  bool empty() const { return kind_ == Kind::none; }
  /// "MeanSquaredError", "BinaryCrossEntropyWithLogits" or "" (none).
  std::string name() const {
    return kind_ == Kind::mse ? "MeanSquaredError" : kind_ == Kind::bce ? "BinaryCrossEntropyWithLogits" : "";
  }
  /// Whether an accuracy is defined: binary accuracy for BCE (an output is right when z > 0
  /// matches t > 0.5, Keras's `binary_accuracy`); a regression has none.
  bool has_accuracy() const { return kind_ == Kind::bce; }

  /// The mean loss of a batch, and dL/doutputs into `doutputs` unless it is empty.
  T operator()(TensorView<const T> outputs, TensorView<const T> targets, TensorView<T> doutputs = {},
               TensorView<const float> sample_weights = {}) const {
    return with_loss([&](const auto& l) { return l(outputs, targets, doutputs, sample_weights); });
  }

  /// The denominator of the mean over a batch of which these items are a part.
  double weight_sum(TensorView<const T> outputs, TensorView<const T> targets,
                    TensorView<const float> sample_weights = {}) const {
    return with_loss([&](const auto& l) { return l.weight_sum(outputs, targets, sample_weights); });
  }

  /// These items' part of a batch: their weighted loss sum, and their dL/doutputs of the batch's mean.
  double sum(TensorView<const T> outputs, TensorView<const T> targets, TensorView<T> doutputs,
             double denominator, TensorView<const float> sample_weights = {}) const {
    return with_loss(
        [&](const auto& l) { return l.sum(outputs, targets, doutputs, denominator, sample_weights); });
  }

  /// The accuracy's numerator for these items: per item the fraction of its outputs that are
  /// right, summed (divide by the item count for the binary accuracy); NaN without an accuracy.
  double correct(TensorView<const T> outputs, TensorView<const T> targets) const {
    if (!has_accuracy()) return std::numeric_limits<double>::quiet_NaN();
    const std::size_t n = outputs.shape()[0], k = outputs.shape()[1];
    std::size_t right = 0;
    for (std::size_t i = 0; i < n * k; ++i) right += (outputs[i] > 0) == (targets[i] > T(0.5));
    return static_cast<double>(right) / static_cast<double>(k);
  }

  /// What `predict` returns for outputs z: sigma(z) for BCE (each label's probability), z for MSE.
  void activate(std::size_t count, const T* outputs, T* out) const {
    const bool sigmoid = has_accuracy();
    for (std::size_t i = 0; i < count; ++i)
      out[i] = sigmoid ? static_cast<T>(BinaryCrossEntropyWithLogits<T>::sigmoid(outputs[i])) : outputs[i];
  }

 private:
  /// f(the loss); `ConfigError` when there is none.
  template <typename F>
  auto with_loss(F&& f) const {
    check<ConfigError>(kind_ != Kind::none, none_message());
    return kind_ == Kind::mse ? f(mse_) : f(bce_);
  }

  static const char* none_message() {
    return "TargetLoss: the model has no loss for float targets; compile it with one: "
           "model.compile(optimizer, MeanSquaredError<T>()) or BinaryCrossEntropyWithLogits<T>()";
  }

  enum class Kind { none, mse, bce };
  Kind kind_ = Kind::none;
  MeanSquaredError<T> mse_;              // the loss when kind_ is mse
  BinaryCrossEntropyWithLogits<T> bce_;  // the loss when kind_ is bce
};

}  // namespace tinydl
