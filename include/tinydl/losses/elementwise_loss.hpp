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

/// The weighted mean above, and dL/dz into `doutputs` unless it is empty. `element(z, t, j)`
/// returns {l, dl/dz} in double for output j. Throws `ShapeError` on mismatched shapes, `Error`
/// on a non-finite target, a bad sample weight or weights summing to 0.
template <typename T, typename Element>
T mean_elementwise_loss(const char* who, const TensorView<const T>& outputs,
                        const TensorView<const T>& targets, const TensorView<T>& doutputs,
                        const TensorView<const float>& sample_weights, Element element) {
  check<ShapeError>(outputs.rank() == 2 && outputs.shape()[0] > 0 && outputs.shape()[1] > 0, who,
                    ": expected outputs (N, K) with N, K >= 1, got ", outputs.shape());
  check<ShapeError>(targets.shape() == outputs.shape(), who, ": expected targets ", outputs.shape(),
                    " like the outputs, got ", targets.shape());
  check<ShapeError>(!doutputs.data() || doutputs.shape() == outputs.shape(), who, ": expected a gradient ",
                    outputs.shape(), " like the outputs, got ", doutputs.shape());
  const std::size_t n = outputs.shape()[0], k = outputs.shape()[1];
  for (std::size_t i = 0; i < n * k; ++i)
    check<Error>(std::isfinite(targets[i]), who, ": target ", targets[i], " of item ", i / k, ", output ",
                 i % k, " is not finite");
  double weight_total = static_cast<double>(n);
  if (sample_weights.data()) {
    check_sample_weights(who, sample_weights, n);
    weight_total = 0;
    for (std::size_t b = 0; b < n; ++b) weight_total += sample_weights[b];
    check<Error>(weight_total > 0, who, ": the batch's sample weights sum to 0");
  }
  const double denominator = weight_total * static_cast<double>(k);
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
  return static_cast<T>(total / denominator);
}

}  // namespace detail
}  // namespace tinydl
