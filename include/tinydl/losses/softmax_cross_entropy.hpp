#pragma once
/// @file softmax_cross_entropy.hpp
/// `SoftmaxCrossEntropy`: softmax and cross-entropy fused, mean over the batch (PyTorch's
/// `nn.CrossEntropyLoss` on logits). For logits z (N, C), with p = softmax(z) row by row:
///
///     integer labels y_b:  L = 1/N sum_b (logsumexp(z_b) - z_b[y_b])
///                          dL/dz_b = (p_b - onehot(y_b)) / N
///     soft targets t_b:    L = 1/N sum_b sum_j t_bj (logsumexp(z_b) - z_bj)
///                          dL/dz_b = (p_b * sum_j t_bj - t_b) / N
///
/// logsumexp subtracts the row maximum first, so logits of +-1e4 give exact, finite results.

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/kernels/softmax.hpp"

namespace tinydl {

/// Fused softmax + cross-entropy on logits. Pass an empty `dlogits` (null data) to get only the loss.
template <typename T>
class SoftmaxCrossEntropy {
 public:
  /// The mean loss for integer class labels (any integer type), and dL/dlogits into `dlogits`.
  /// Throws `ShapeError` on mismatched shapes and `Error` on a label outside [0, C).
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  T operator()(TensorView<const T> logits, TensorView<Label> labels, TensorView<T> dlogits = {}) const {
    const std::size_t n = check_logits(logits, dlogits).n;
    return static_cast<T>(sum(logits, labels, dlogits, n) / n);
  }

  /// Part of a larger batch (data-parallel training): the sum, not the mean, of the losses of
  /// these items, and dL/dlogits of the mean loss over `batch` items into `dlogits`. The items
  /// may be none.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  double sum(TensorView<const T> logits, TensorView<Label> labels, TensorView<T> dlogits,
             std::size_t batch) const {
    const std::size_t n = logits.rank() == 2 ? logits.shape()[0] : 0, classes = n ? logits.shape()[1] : 0;
    if (n > 0) check_logits(logits, dlogits);
    check<ShapeError>(labels.rank() == 1 && labels.shape()[0] == n, "SoftmaxCrossEntropy: expected labels (",
                      n, ") for logits ", logits.shape(), ", got ", labels.shape());
    double total = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const auto label = labels[b];
      check<Error>(label >= 0 && static_cast<std::size_t>(label) < classes, "SoftmaxCrossEntropy: label ",
                   static_cast<long long>(label), " of item ", b, " is outside [0, ", classes, ")");
      const T* z = logits.data() + b * classes;
      const double lse = kernels::log_sum_exp(classes, z);
      total += lse - z[label];
      if (!dlogits.data()) continue;
      T* dz = dlogits.data() + b * classes;
      for (std::size_t j = 0; j < classes; ++j)
        dz[j] = static_cast<T>((std::exp(z[j] - lse) - (j == static_cast<std::size_t>(label) ? 1.0 : 0.0)) /
                               batch);
    }
    return total;
  }

  /// The mean loss for soft targets (N, C) (one-hot or probabilities; rows need not sum to 1),
  /// and dL/dlogits into `dlogits`.
  T operator()(TensorView<const T> logits, TensorView<const T> targets, TensorView<T> dlogits = {}) const {
    const auto [n, classes] = check_logits(logits, dlogits);
    check<ShapeError>(targets.shape() == logits.shape(), "SoftmaxCrossEntropy: expected targets ",
                      logits.shape(), " like the logits, got ", targets.shape());
    double total = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const T *z = logits.data() + b * classes, *t = targets.data() + b * classes;
      const double lse = kernels::log_sum_exp(classes, z);
      double target_sum = 0;
      for (std::size_t j = 0; j < classes; ++j) {
        total += t[j] * (lse - z[j]);
        target_sum += t[j];
      }
      if (!dlogits.data()) continue;
      T* dz = dlogits.data() + b * classes;
      for (std::size_t j = 0; j < classes; ++j)
        dz[j] = static_cast<T>((std::exp(z[j] - lse) * target_sum - t[j]) / n);
    }
    return static_cast<T>(total / n);
  }

 private:
  struct Sizes {
    std::size_t n, classes;
  };
  static Sizes check_logits(const TensorView<const T>& logits, const TensorView<T>& dlogits) {
    check<ShapeError>(logits.rank() == 2 && logits.shape()[0] > 0 && logits.shape()[1] > 0,
                      "SoftmaxCrossEntropy: expected logits (N, classes) with N, classes >= 1, got ",
                      logits.shape());
    check<ShapeError>(!dlogits.data() || dlogits.shape() == logits.shape(),
                      "SoftmaxCrossEntropy: expected dlogits ", logits.shape(), " like the logits, got ",
                      dlogits.shape());
    return {logits.shape()[0], logits.shape()[1]};
  }
};

}  // namespace tinydl
