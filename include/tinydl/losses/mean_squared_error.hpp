#pragma once
/// @file mean_squared_error.hpp
/// `MeanSquaredError`: regression's loss, the mean of (z - t)^2 over every output of the batch
/// (PyTorch's `nn.MSELoss()`, Keras's `"mse"`). Per element, for output z and target t:
///
///     l = (z - t)^2        dl/dz = 2 (z - t)
///
/// averaged as losses/elementwise_loss.hpp states, optionally weighted per item.

#include "tinydl/core/tensor.hpp"
#include "tinydl/losses/elementwise_loss.hpp"

namespace tinydl {

/// Mean squared error on the model's raw outputs (N, K) against float targets (N, K).
template <typename T>
class MeanSquaredError {
 public:
  /// The mean loss, and dL/doutputs into `doutputs` unless it is empty; `sample_weights` (N), if
  /// given, weigh the items (the mean is over their weights). Throws `ShapeError` on mismatched
  /// shapes, `Error` on a non-finite target or a bad sample weight.
  T operator()(TensorView<const T> outputs, TensorView<const T> targets, TensorView<T> doutputs = {},
               TensorView<const float> sample_weights = {}) const {
    return detail::mean_elementwise_loss("MeanSquaredError", outputs, targets, doutputs, sample_weights,
                                         element);
  }

  /// The mean's denominator for these items (K times their weight sum); see `sum`.
  double weight_sum(TensorView<const T> outputs, TensorView<const T> targets,
                    TensorView<const float> sample_weights = {}) const {
    return detail::elementwise_weight_sum("MeanSquaredError", outputs, targets, sample_weights);
  }

  /// Part of a larger batch (data-parallel training): the weighted sum of these items' losses,
  /// and dL/doutputs of the whole batch's mean, `denominator` being its `weight_sum`.
  double sum(TensorView<const T> outputs, TensorView<const T> targets, TensorView<T> doutputs,
             double denominator, TensorView<const float> sample_weights = {}) const {
    return detail::elementwise_sum("MeanSquaredError", outputs, targets, doutputs, denominator,
                                   sample_weights, element);
  }

 private:
  static std::pair<double, double> element(double z, double t, std::size_t) {
    const double e = z - t;
    return {e * e, 2 * e};
  }
};

}  // namespace tinydl
