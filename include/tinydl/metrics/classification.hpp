#pragma once
/// @file classification.hpp
/// Classification metrics from predicted probabilities (or scores) and true labels: accuracy,
/// top-k accuracy, the confusion matrix and per-class precision, recall and F1.
///
/// With TP_c, FP_c, FN_c the true positives, false positives and false negatives of class c:
///     precision_c = TP_c / (TP_c + FP_c)     recall_c = TP_c / (TP_c + FN_c)
///     F1_c = 2 precision_c recall_c / (precision_c + recall_c)      (0 when a denominator is 0)

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl::metrics {

namespace detail {
template <typename T>
void check_scores(const TensorView<const T>& scores, const TensorView<const std::int32_t>& labels,
                  const char* who) {
  check<ShapeError>(scores.rank() == 2 && labels.rank() == 1 && scores.shape()[0] == labels.shape()[0], who,
                    ": expected scores (N, classes) and labels (N), got ", scores.shape(), " and ",
                    labels.shape());
  for (std::size_t i = 0; i < labels.size(); ++i)
    check<Error>(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < scores.shape()[1], who, ": label ",
                 labels[i], " of example ", i, " is outside [0, ", scores.shape()[1], ")");
}
}  // namespace detail

/// The predicted class of each row: the index of its largest score (the first on ties).
template <typename T>
std::vector<std::int32_t> predicted_classes(TensorView<const T> scores) {
  check<ShapeError>(scores.rank() == 2, "predicted_classes: expected scores (N, classes), got ",
                    scores.shape());
  const std::size_t n = scores.shape()[0], classes = scores.shape()[1];
  std::vector<std::int32_t> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = scores.data() + i * classes;
    out[i] = static_cast<std::int32_t>(std::max_element(row, row + classes) - row);
  }
  return out;
}

/// Fraction of examples whose true label is among the k highest scores (k = 1: accuracy).
template <typename T>
double top_k_accuracy(TensorView<const T> scores, TensorView<const std::int32_t> labels, std::size_t k) {
  detail::check_scores(scores, labels, "top_k_accuracy");
  const std::size_t n = scores.shape()[0], classes = scores.shape()[1];
  check<ConfigError>(k >= 1 && k <= classes, "top_k_accuracy: k must be in [1, ", classes, "], got ", k);
  if (n == 0) return 0;
  std::size_t hits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const T* row = scores.data() + i * classes;
    const T own = row[labels[i]];
    // Rank = classes scoring higher, plus equal scores at lower indices (the argmax tie rule).
    std::size_t better = 0;
    for (std::size_t j = 0; j < classes; ++j)
      better += row[j] > own || (row[j] == own && j < static_cast<std::size_t>(labels[i]));
    hits += better < k;
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

/// Fraction of examples whose highest score is the true label.
template <typename T>
double accuracy(TensorView<const T> scores, TensorView<const std::int32_t> labels) {
  return top_k_accuracy(scores, labels, 1);
}

/// counts(t, p): examples of true class t predicted as p. Rows are true classes, as in scikit-learn.
class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(std::size_t classes) : classes_(classes), counts_(classes * classes, 0) {
    check<ConfigError>(classes > 0, "ConfusionMatrix: at least one class");
  }

  /// From predicted and true classes.
  ConfusionMatrix(const std::vector<std::int32_t>& predicted, TensorView<const std::int32_t> labels,
                  std::size_t classes)
      : ConfusionMatrix(classes) {
    check<ShapeError>(predicted.size() == labels.size(), "ConfusionMatrix: ", predicted.size(),
                      " predictions for ", labels.size(), " labels");
    for (std::size_t i = 0; i < predicted.size(); ++i) add(labels[i], predicted[i]);
  }

  /// Counts one example of true class `truth` predicted as `predicted`.
  void add(std::int32_t truth, std::int32_t predicted) {
    check<Error>(truth >= 0 && static_cast<std::size_t>(truth) < classes_ && predicted >= 0 &&
                     static_cast<std::size_t>(predicted) < classes_,
                 "ConfusionMatrix: class ", truth, " -> ", predicted, " outside [0, ", classes_, ")");
    ++counts_[static_cast<std::size_t>(truth) * classes_ + static_cast<std::size_t>(predicted)];
  }

  std::size_t classes() const { return classes_; }
  std::size_t count(std::size_t truth, std::size_t predicted) const {
    return counts_.at(truth * classes_ + predicted);
  }
  std::size_t total() const { return std::accumulate(counts_.begin(), counts_.end(), std::size_t{0}); }

  std::size_t true_positives(std::size_t c) const { return count(c, c); }
  /// Examples of class c (row sum) and examples predicted as c (column sum).
  std::size_t support(std::size_t c) const {
    std::size_t n = 0;
    for (std::size_t p = 0; p < classes_; ++p) n += count(c, p);
    return n;
  }
  std::size_t predicted_count(std::size_t c) const {
    std::size_t n = 0;
    for (std::size_t t = 0; t < classes_; ++t) n += count(t, c);
    return n;
  }

  double accuracy() const {
    std::size_t diagonal = 0;
    for (std::size_t c = 0; c < classes_; ++c) diagonal += count(c, c);
    return total() ? static_cast<double>(diagonal) / static_cast<double>(total()) : 0.0;
  }
  double precision(std::size_t c) const { return ratio(true_positives(c), predicted_count(c)); }
  double recall(std::size_t c) const { return ratio(true_positives(c), support(c)); }
  double f1(std::size_t c) const {
    const double p = precision(c), r = recall(c);
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
  }
  /// The unweighted mean of the per-class F1 scores.
  double macro_f1() const {
    double sum = 0;
    for (std::size_t c = 0; c < classes_; ++c) sum += f1(c);
    return sum / static_cast<double>(classes_);
  }

 private:
  static double ratio(std::size_t a, std::size_t b) {
    return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0;
  }

  std::size_t classes_;
  std::vector<std::size_t> counts_;
};

}  // namespace tinydl::metrics
