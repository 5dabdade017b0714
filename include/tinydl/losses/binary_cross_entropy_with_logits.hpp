#pragma once
/// @file binary_cross_entropy_with_logits.hpp
/// `BinaryCrossEntropyWithLogits`: sigmoid and binary cross-entropy fused, for binary and
/// multi-label classification (PyTorch's `nn.BCEWithLogitsLoss`, Keras's
/// `BinaryCrossentropy(from_logits=True)`). Per logit z with target t in [0, 1] and the output's
/// positive weight p (PyTorch's `pos_weight`, 1 by default), sigma(z) = 1 / (1 + e^-z):
///
///     l = -(p t log sigma(z) + (1 - t) log(1 - sigma(z))) = p t softplus(-z) + (1 - t) softplus(z)
///     dl/dz = (1 - t) sigma(z) - p t sigma(-z)
///
/// softplus(x) = max(x, 0) + log1p(e^-|x|) never overflows, so logits of +-1e4 give exact,
/// finite losses (the naive log(sigmoid) would give -inf). Averaged as losses/elementwise_loss.hpp
/// states, optionally weighted per item.

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/losses/elementwise_loss.hpp"

namespace tinydl {

/// Sigmoid + binary cross-entropy on logits (N, K) against float targets (N, K).
template <typename T>
class BinaryCrossEntropyWithLogits {
 public:
  /// Every positive counts once.
  BinaryCrossEntropyWithLogits() = default;

  /// One weight per output for its positives (PyTorch's `pos_weight`): p > 1 raises recall of a
  /// rare label. Throws `ConfigError` for a negative or non-finite weight.
  explicit BinaryCrossEntropyWithLogits(std::vector<double> pos_weight) : pos_weight_(std::move(pos_weight)) {
    for (std::size_t j = 0; j < pos_weight_.size(); ++j)
      check<ConfigError>(std::isfinite(pos_weight_[j]) && pos_weight_[j] >= 0,
                         "BinaryCrossEntropyWithLogits: pos_weight ", j, " is ", pos_weight_[j],
                         "; weights must be finite and >= 0");
  }

  /// The positive weights (empty: all 1).
  const std::vector<double>& pos_weight() const { return pos_weight_; }

  /// The mean loss, and dL/dlogits into `dlogits` unless it is empty; `sample_weights` (N), if
  /// given, weigh the items. Throws `ShapeError` on mismatched shapes (or positive weights for
  /// another number of outputs), `Error` on a non-finite target or a bad sample weight.
  T operator()(TensorView<const T> logits, TensorView<const T> targets, TensorView<T> dlogits = {},
               TensorView<const float> sample_weights = {}) const {
    check_pos_weight(logits);
    return detail::mean_elementwise_loss("BinaryCrossEntropyWithLogits", logits, targets, dlogits,
                                         sample_weights, element());
  }

  /// The mean's denominator for these items (K times their weight sum); see `sum`.
  double weight_sum(TensorView<const T> logits, TensorView<const T> targets,
                    TensorView<const float> sample_weights = {}) const {
    check_pos_weight(logits);
    return detail::elementwise_weight_sum("BinaryCrossEntropyWithLogits", logits, targets, sample_weights);
  }

  /// Part of a larger batch (data-parallel training): the weighted sum of these items' losses,
  /// and dL/dlogits of the whole batch's mean, `denominator` being its `weight_sum`.
  double sum(TensorView<const T> logits, TensorView<const T> targets, TensorView<T> dlogits,
             double denominator, TensorView<const float> sample_weights = {}) const {
    check_pos_weight(logits);
    return detail::elementwise_sum("BinaryCrossEntropyWithLogits", logits, targets, dlogits, denominator,
                                   sample_weights, element());
  }

  /// sigma(z), the probability of the label being on.
  static double sigmoid(double x) {
    const double e = std::exp(-std::abs(x));  // in (0, 1]: no overflow either way
    return x >= 0 ? 1 / (1 + e) : e / (1 + e);
  }

 private:
  void check_pos_weight(const TensorView<const T>& logits) const {
    check<ShapeError>(pos_weight_.empty() || (logits.rank() == 2 && logits.shape()[1] == pos_weight_.size()),
                      "BinaryCrossEntropyWithLogits: ", pos_weight_.size(), " positive weights for logits ",
                      logits.shape());
  }

  auto element() const {
    return [this](double z, double t, std::size_t j) {
      const double p = pos_weight_.empty() ? 1.0 : pos_weight_[j];
      return std::pair<double, double>(p * t * softplus(-z) + (1 - t) * softplus(z),
                                       (1 - t) * sigmoid(z) - p * t * sigmoid(-z));
    };
  }

  static double softplus(double x) { return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x))); }

  std::vector<double> pos_weight_;  // per output; empty: all 1
};

}  // namespace tinydl
