#pragma once
/// @file dataset.hpp
/// `Dataset<X>`: labelled examples held in memory in their storage type X (uint8 pixels for
/// Fashion-MNIST: 47 MB for 60,000 images instead of 188 MB as float) and converted to the
/// model's scalar type one batch at a time: input = features * scale (1/255 maps pixels to [0, 1]).

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "tinydl/core/error.hpp"
#include "tinydl/core/sample_weights.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl {

/// Features (N, ...) of type X with, per example, one integer class label (a classifier's data)
/// or K float targets (a regression's, or a multi-label classifier's: one 0/1 per label), and
/// optionally one weight per example for the training loss (`set_sample_weights`).
template <typename X>
class Dataset {
 public:
  Dataset() = default;

  /// Takes `features` (N, ...) and `labels` (N). Throws `ShapeError` if the counts differ and
  /// `ConfigError` naming the first NaN or infinity among floating-point features.
  Dataset(Tensor<X> features, Tensor<std::int32_t> labels, double scale = 1.0)
      : features_(std::move(features)), labels_(std::move(labels)), scale_(scale) {
    check_features();
    check<ShapeError>(labels_.rank() == 1 && labels_.shape()[0] == features_.shape()[0],
                      "Dataset: ", features_.shape()[0], " examples ", features_.shape(), " but labels ",
                      labels_.shape());
  }

  /// Takes `features` (N, ...) and float `targets` (N, K), trained on with the model's target
  /// loss (`compile(optimizer, MeanSquaredError<T>())` or `BinaryCrossEntropyWithLogits`).
  /// Throws `ShapeError` unless the targets are (N, K) with K >= 1, and `ConfigError` naming the
  /// first non-finite feature or target.
  Dataset(Tensor<X> features, Tensor<float> targets, double scale = 1.0)
      : features_(std::move(features)), targets_(std::move(targets)), scale_(scale) {
    check_features();
    check<ShapeError>(
        targets_.rank() == 2 && targets_.shape()[0] == features_.shape()[0] && targets_.shape()[1] > 0,
        "Dataset: expected targets (", features_.shape()[0], ", K) for ", features_.shape()[0],
        " examples, got ", targets_.shape(), " (one target per example: shape it (N, 1))");
    const std::size_t k = targets_.shape()[1];
    for (std::size_t i = 0; i < targets_.size(); ++i)
      if (!std::isfinite(targets_[i]))
        throw ConfigError(tinydl::detail::concat("Dataset: example ", i / k, " has a non-finite target (",
                                                 targets_[i], " at output ", i % k, ")"));
  }

  /// Number of examples.
  std::size_t size() const { return features_.rank() ? features_.shape()[0] : 0; }
  bool empty() const { return size() == 0; }
  /// The shape of one example, e.g. (1, 28, 28).
  Shape item_shape() const { return tinydl::item_shape(features_.shape()); }
  double scale() const { return scale_; }

  const Tensor<X>& features() const { return features_; }
  /// The class labels (N); empty for a dataset of targets.
  const Tensor<std::int32_t>& labels() const { return labels_; }
  /// Whether the examples have float targets rather than class labels.
  bool has_targets() const { return targets_.rank() == 2; }
  /// The targets (N, K); empty for a dataset of labels.
  const Tensor<float>& targets() const { return targets_; }
  /// K, the targets per example (0 for a dataset of labels).
  std::size_t target_size() const { return has_targets() ? targets_.shape()[1] : 0; }

 private:
  void check_features() const {
    check<ShapeError>(features_.rank() >= 2,
                      "Dataset: features need a batch axis and at least one feature axis, got ",
                      features_.shape());
    check<ConfigError>(std::isfinite(scale_), "Dataset: the scale must be finite, got ", scale_);
    // A NaN or infinity in the inputs would train a NaN model without a word: refuse it here,
    // naming the first one, where it is still easy to find.
    if constexpr (std::is_floating_point_v<X>) {
      const std::size_t item = features_.shape().item_numel();
      for (std::size_t i = 0; i < features_.size(); ++i)
        if (!std::isfinite(features_[i]))
          throw ConfigError(tinydl::detail::concat(
              "Dataset: example ", i / item, " has a non-finite feature (", features_[i], " at position ",
              i % item, " of the example); clean or impute the data first"));
    }
  }

 public:
  /// Weighs each example in the training loss (Keras's `sample_weight`): `fit` multiplies an
  /// example's loss by its weight (and by its class's `class_weight`, if any) and divides the
  /// batch's sum by the batch's weight sum. An empty tensor removes them. Throws `ShapeError`
  /// unless there is one weight per example and `Error` for a negative or non-finite one; on a
  /// throw the dataset is unchanged.
  void set_sample_weights(Tensor<float> weights) {
    if (weights.size() == 0 && weights.rank() <= 1) {
      sample_weights_ = Tensor<float>();
      return;
    }
    detail::check_sample_weights("Dataset", weights.view(), size());
    sample_weights_ = std::move(weights);
  }
  bool has_sample_weights() const { return sample_weights_.size() > 0; }
  /// The examples' weights (N), or an empty tensor.
  const Tensor<float>& sample_weights() const { return sample_weights_; }

  /// Examples [begin, end) as a new dataset (a copy).
  Dataset slice(std::size_t begin, std::size_t end) const {
    check<ShapeError>(begin <= end && end <= size(), "Dataset::slice: [", begin, ", ", end,
                      ") out of range for ", size(), " examples");
    Tensor<X> features(features_.shape().with_batch(end - begin));
    const auto source = features_.slice(begin, end);
    std::copy(source.begin(), source.end(), features.begin());
    Dataset part;
    part.features_ = std::move(features);
    part.scale_ = scale_;
    if (has_targets()) {
      const std::size_t k = target_size();
      part.targets_ = Tensor<float>(Shape{end - begin, k});
      std::copy(targets_.begin() + begin * k, targets_.begin() + end * k, part.targets_.begin());
    } else {
      part.labels_ = Tensor<std::int32_t>(Shape{end - begin});
      std::copy(labels_.begin() + begin, labels_.begin() + end, part.labels_.begin());
    }
    if (has_sample_weights()) {
      part.sample_weights_ = Tensor<float>(Shape{end - begin});
      std::copy(sample_weights_.begin() + begin, sample_weights_.begin() + end, part.sample_weights_.begin());
    }
    return part;
  }

  /// Writes examples indices[0..count) converted to T and scaled into `out` (count x item), their
  /// labels into `labels_out` (a dataset of labels) or their targets converted to T into
  /// `targets_out` (count x K; a dataset of targets), and, if the dataset has sample weights,
  /// their weights into `weights_out`; a null destination is skipped.
  template <typename T>
  void gather(const std::size_t* indices, std::size_t count, T* out, std::int32_t* labels_out,
              float* weights_out = nullptr, T* targets_out = nullptr) const {
    if (has_targets()) {
      labels_out = nullptr;
      const std::size_t k = target_size();
      if (targets_out)
        for (std::size_t b = 0; b < count; ++b)
          for (std::size_t j = 0; j < k; ++j)
            targets_out[b * k + j] = static_cast<T>(targets_[indices[b] * k + j]);
    }
    if (weights_out && has_sample_weights())
      for (std::size_t b = 0; b < count; ++b) weights_out[b] = sample_weights_[indices[b]];
    const std::size_t item = features_.shape().item_numel();
    const T scale = static_cast<T>(scale_);
    for (std::size_t b = 0; b < count; ++b) {
      const X* source = features_.data() + indices[b] * item;
      T* target = out + b * item;
      for (std::size_t i = 0; i < item; ++i) target[i] = static_cast<T>(source[i]) * scale;
      if (labels_out) labels_out[b] = labels_[indices[b]];
    }
  }

 private:
  Tensor<X> features_;
  Tensor<std::int32_t> labels_;   // (N), or empty: a dataset of targets
  Tensor<float> targets_;         // (N, K), or empty: a dataset of labels
  Tensor<float> sample_weights_;  // (N), or empty: unweighted
  double scale_ = 1.0;
};

}  // namespace tinydl
