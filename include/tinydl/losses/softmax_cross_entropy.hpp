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
/// With class weights w (PyTorch's `weight=`), integer labels weigh each item by w[y_b] and the
/// mean is over the weights, as PyTorch's mean reduction:
///
///     L = sum_b w[y_b] (logsumexp(z_b) - z_b[y_b]) / sum_b w[y_b]
///     dL/dz_b = w[y_b] (p_b - onehot(y_b)) / sum_b w[y_b]
///
/// Sample weights s_b (one per item, Keras's `sample_weight`) multiply in: the item's weight is
/// s_b w[y_b] (either factor 1 when absent) and the mean is over those weights, as
/// `(loss * s).sum() / s.sum()` is in PyTorch. A weight of 2 counts an item as two copies of it.
///
/// logsumexp subtracts the row maximum first, so logits of +-1e4 give exact, finite results.

#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/core/sample_weights.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/kernels/softmax.hpp"

namespace tinydl {

/// Fused softmax + cross-entropy on logits. Pass an empty `dlogits` (null data) to get only the loss.
template <typename T>
class SoftmaxCrossEntropy {
 public:
  /// Unweighted: every item counts once.
  SoftmaxCrossEntropy() = default;

  /// With one weight per class (PyTorch's `nn.CrossEntropyLoss(weight=...)`, Keras's
  /// `class_weight`): each item counts w[label], the mean is over the weights. Throws
  /// `ConfigError` for a negative or non-finite weight, or weights summing to zero.
  explicit SoftmaxCrossEntropy(std::vector<double> class_weights) : weights_(std::move(class_weights)) {
    double total = 0;
    for (std::size_t c = 0; c < weights_.size(); ++c) {
      check<ConfigError>(std::isfinite(weights_[c]) && weights_[c] >= 0, "SoftmaxCrossEntropy: class weight ",
                         c, " is ", weights_[c], "; weights must be finite and >= 0");
      total += weights_[c];
    }
    check<ConfigError>(weights_.empty() || total > 0, "SoftmaxCrossEntropy: the class weights sum to 0");
  }

  /// The class weights (empty: unweighted).
  const std::vector<double>& class_weights() const { return weights_; }

  /// The mean loss for integer class labels (any integer type), and dL/dlogits into `dlogits`;
  /// `sample_weights` (N), if given, weigh the items. Throws `ShapeError` on mismatched shapes
  /// (or class weights for another number of classes), `Error` on a label outside [0, C), a
  /// negative or non-finite sample weight, and when the items' weights sum to 0.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  T operator()(TensorView<const T> logits, TensorView<Label> labels, TensorView<T> dlogits = {},
               TensorView<const float> sample_weights = {}) const {
    check_logits(logits, dlogits);
    const double total_weight = weight_sum(logits, labels, sample_weights);
    check<Error>(total_weight > 0, "SoftmaxCrossEntropy: the batch's weights sum to 0");
    return static_cast<T>(sum(logits, labels, dlogits, total_weight, sample_weights) / total_weight);
  }

  /// The sum of the items' weights: the mean's denominator (the item count when unweighted).
  /// Checks the labels, sample weights and shapes as `sum` does.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  double weight_sum(TensorView<const T> logits, TensorView<Label> labels,
                    TensorView<const float> sample_weights = {}) const {
    const std::size_t n = check_labels(logits, labels, sample_weights);
    if (weights_.empty() && !sample_weights.data()) return static_cast<double>(n);
    double total = 0;
    for (std::size_t b = 0; b < n; ++b) total += item_weight(labels, sample_weights, b);
    return total;
  }

  /// Part of a larger batch (data-parallel training): the sum, not the mean, of the (weighted)
  /// losses of these items, and dL/dlogits of the mean loss over the whole batch into `dlogits`,
  /// `denominator` being that batch's `weight_sum` (its item count when unweighted). The items
  /// may be none.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  double sum(TensorView<const T> logits, TensorView<Label> labels, TensorView<T> dlogits, double denominator,
             TensorView<const float> sample_weights = {}) const {
    const std::size_t n = check_labels(logits, labels, sample_weights), classes = n ? logits.shape()[1] : 0;
    if (n > 0) check_logits(logits, dlogits);
    const bool weighted = !weights_.empty() || sample_weights.data();
    double total = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const auto label = static_cast<std::size_t>(labels[b]);
      const double w = weighted ? item_weight(labels, sample_weights, b) : 1.0;
      const T* z = logits.data() + b * classes;
      const double lse = kernels::log_sum_exp(classes, z);
      total += weighted ? w * (lse - z[label]) : lse - z[label];
      if (!dlogits.data()) continue;
      T* dz = dlogits.data() + b * classes;
      for (std::size_t j = 0; j < classes; ++j) {
        const double d = std::exp(z[j] - lse) - (j == label ? 1.0 : 0.0);
        dz[j] = static_cast<T>((weighted ? w * d : d) / denominator);
      }
    }
    return total;
  }

  /// The mean loss for soft targets (N, C) (one-hot or probabilities; rows need not sum to 1),
  /// and dL/dlogits into `dlogits`. Unweighted only (`ConfigError` with class weights).
  T operator()(TensorView<const T> logits, TensorView<const T> targets, TensorView<T> dlogits = {}) const {
    check<ConfigError>(weights_.empty(),
                       "SoftmaxCrossEntropy: class weights apply to integer labels; weigh "
                       "soft targets in the targets themselves");
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
  /// Item b's weight: its sample weight times its label's class weight (each 1 when absent).
  template <typename Label>
  double item_weight(const TensorView<Label>& labels, const TensorView<const float>& sample_weights,
                     std::size_t b) const {
    const double s = sample_weights.data() ? static_cast<double>(sample_weights[b]) : 1.0;
    return weights_.empty() ? s : s * weights_[static_cast<std::size_t>(labels[b])];
  }

  /// Checks the labels and sample weights against the logits (and the class weights, if any);
  /// returns the item count.
  template <typename Label>
  std::size_t check_labels(const TensorView<const T>& logits, const TensorView<Label>& labels,
                           const TensorView<const float>& sample_weights) const {
    const std::size_t n = logits.rank() == 2 ? logits.shape()[0] : 0, classes = n ? logits.shape()[1] : 0;
    check<ShapeError>(labels.rank() == 1 && labels.shape()[0] == n, "SoftmaxCrossEntropy: expected labels (",
                      n, ") for logits ", logits.shape(), ", got ", labels.shape());
    if (sample_weights.data()) detail::check_sample_weights("SoftmaxCrossEntropy", sample_weights, n);
    check<ShapeError>(n == 0 || weights_.empty() || weights_.size() == classes,
                      "SoftmaxCrossEntropy: ", weights_.size(), " class weights for ", classes, " classes");
    for (std::size_t b = 0; b < n; ++b) {
      const auto label = labels[b];
      check<Error>(label >= 0 && static_cast<std::size_t>(label) < classes, "SoftmaxCrossEntropy: label ",
                   static_cast<long long>(label), " of item ", b, " is outside [0, ", classes, ")");
    }
    return n;
  }

  static Sizes check_logits(const TensorView<const T>& logits, const TensorView<T>& dlogits) {
    check<ShapeError>(logits.rank() == 2 && logits.shape()[0] > 0 && logits.shape()[1] > 0,
                      "SoftmaxCrossEntropy: expected logits (N, classes) with N, classes >= 1, got ",
                      logits.shape());
    check<ShapeError>(!dlogits.data() || dlogits.shape() == logits.shape(),
                      "SoftmaxCrossEntropy: expected dlogits ", logits.shape(), " like the logits, got ",
                      dlogits.shape());
    return {logits.shape()[0], logits.shape()[1]};
  }

  std::vector<double> weights_;  // per class; empty: unweighted
};

}  // namespace tinydl
