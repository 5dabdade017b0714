#pragma once
/// @file elementwise_loss.hpp
/// The weighted mean of an element-wise loss over outputs (N, K) that `MeanSquaredError` and
/// `BinaryCrossEntropyWithLogits` are. With item weights s_b (1 when absent) and S = sum_b s_b:
///
///     L = sum_b s_b (1/K) sum_j l(z_bj, t_bj) / S           dL/dz_bj = s_b l'(z_bj, t_bj) / (K S)
///
/// Unweighted that is the mean over all N K elements, PyTorch's `reduction="mean"`.

#include <cmath>
#include <cstddef>
#include <utility>

#include "tinydl/core/error.hpp"
#include "tinydl/core/sample_weights.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl {
namespace detail {

/// Checks outputs (N, K), targets like them, a gradient like them (or none) and the sample
/// weights (or none); N may be 0 (one process's empty part of a batch). Returns {N, K}.
template <typename T>
std::pair<std::size_t, std::size_t> check_elementwise(const char* who, const TensorView<const T>& outputs,
                                                      const TensorView<const T>& targets,
                                                      const TensorView<T>& doutputs,
                                                      const TensorView<const float>& sample_weights) {
  check<ShapeError>(outputs.rank() == 2 && outputs.shape()[1] > 0, who,
                    ": expected outputs (N, K) with K >= 1, got ", outputs.shape());
  check<ShapeError>(targets.shape() == outputs.shape(), who, ": expected targets ", outputs.shape(),
                    " like the outputs, got ", targets.shape());
  check<ShapeError>(!doutputs.data() || doutputs.shape() == outputs.shape(), who, ": expected a gradient ",
                    outputs.shape(), " like the outputs, got ", doutputs.shape());
  const std::size_t n = outputs.shape()[0], k = outputs.shape()[1];
  for (std::size_t i = 0; i < n * k; ++i)
    check<Error>(std::isfinite(targets[i]), who, ": target ", targets[i], " of item ", i / k, ", output ",
                 i % k, " is not finite");
  if (sample_weights.data()) check_sample_weights(who, sample_weights, n);
  return {n, k};
}

/// The mean's denominator: K times the items' weight sum (N K unweighted).
template <typename T>
double elementwise_weight_sum(const char* who, const TensorView<const T>& outputs,
                              const TensorView<const T>& targets,
                              const TensorView<const float>& sample_weights) {
  const auto [n, k] = check_elementwise(who, outputs, targets, TensorView<T>(), sample_weights);
  if (!sample_weights.data()) return static_cast<double>(n) * static_cast<double>(k);
  double total = 0;
  for (std::size_t b = 0; b < n; ++b) total += sample_weights[b];
  return total * static_cast<double>(k);
}

/// The weighted sum sum_b s_b sum_j l(z_bj, t_bj) of these items, and into `doutputs` (unless
/// empty) dL/dz of the mean over a batch whose `elementwise_weight_sum` is `denominator`: the
/// items may be one process's part of it. `element(z, t, j)` returns {l, dl/dz} in double.
template <typename T, typename Element>
double elementwise_sum(const char* who, const TensorView<const T>& outputs,
                       const TensorView<const T>& targets, const TensorView<T>& doutputs, double denominator,
                       const TensorView<const float>& sample_weights, Element element) {
  const auto [n, k] = check_elementwise(who, outputs, targets, doutputs, sample_weights);
  double total = 0;
  for (std::size_t b = 0; b < n; ++b) {
    const double s = sample_weights.data() ? static_cast<double>(sample_weights[b]) : 1.0;
    double item = 0;
    for (std::size_t j = 0; j < k; ++j) {
      const std::pair<double, double> l =
          element(static_cast<double>(outputs[b * k + j]), static_cast<double>(targets[b * k + j]), j);
      item += l.first;
      if (doutputs.data()) doutputs.data()[b * k + j] = static_cast<T>(s * l.second / denominator);
    }
    total += s * item;
  }
  return total;
}

/// The weighted mean above, and dL/dz into `doutputs` unless it is empty. Throws `ShapeError` on
/// mismatched shapes or no items, `Error` on a non-finite target, a bad sample weight or weights
/// summing to 0.
template <typename T, typename Element>
T mean_elementwise_loss(const char* who, const TensorView<const T>& outputs,
                        const TensorView<const T>& targets, const TensorView<T>& doutputs,
                        const TensorView<const float>& sample_weights, Element element) {
  check<ShapeError>(outputs.rank() == 2 && outputs.shape()[0] > 0 && outputs.shape()[1] > 0, who,
                    ": expected outputs (N, K) with N, K >= 1, got ", outputs.shape());
  const double denominator = elementwise_weight_sum(who, outputs, targets, sample_weights);
  check<Error>(denominator > 0, who, ": the batch's sample weights sum to 0");
  return static_cast<T>(
      elementwise_sum(who, outputs, targets, doutputs, denominator, sample_weights, element) / denominator);
}

}  // namespace detail
}  // namespace tinydl
