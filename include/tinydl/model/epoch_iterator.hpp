#pragma once
/// @file epoch_iterator.hpp
/// `EpochIterator<X>`: the batches of one pass over a range of a dataset, as Keras's
/// EpochIterator hands them to the training loop. The order is the range in sequence, or for
/// training epoch e a shuffle that is a pure function of (seed, e): a run resumed at epoch e sees
/// the batches an unbroken run would. Each batch is gathered (converted to the model's scalar
/// type and scaled) into buffers the caller owns, so iterating allocates nothing.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/data/dataset.hpp"

namespace tinydl {

/// Batches of `batch_size` examples (the last one smaller) over examples [first, first + count)
/// of `data`, which must outlive the iterator.
template <typename X>
class EpochIterator {
 public:
  EpochIterator(const Dataset<X>& data, std::size_t first, std::size_t count, std::size_t batch_size)
      : data_(data), order_(count), batch_size_(batch_size) {
    check<ConfigError>(batch_size > 0, "EpochIterator: batch_size must be at least 1");
    check<ShapeError>(first <= data.size() && count <= data.size() - first, "EpochIterator: examples [",
                      first, ", ", first + count, ") out of range for ", data.size());
    first_ = first;
    in_sequence();
  }

  /// Visits the examples in sequence (evaluation, prediction).
  void in_sequence() { std::iota(order_.begin(), order_.end(), first_); }

  /// Visits the examples in epoch `epoch`'s order: a Fisher-Yates shuffle of the sequence whose
  /// swaps are drawn from (seed, stream shuffle + epoch << 32, position).
  void shuffle(std::uint64_t seed, std::size_t epoch) {
    in_sequence();
    const CounterRng rng(seed);
    const std::uint64_t stream =
        static_cast<std::uint64_t>(RngStream::shuffle) | (std::uint64_t{epoch} << 32);
    for (std::size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng.below(i, stream, i)]);
  }

  /// The dataset the batches come from.
  const Dataset<X>& dataset() const { return data_; }
  std::size_t examples() const { return order_.size(); }
  std::size_t batches() const { return (order_.size() + batch_size_ - 1) / batch_size_; }

  /// The number of examples of batch `batch` (batch_size, or fewer for the last one).
  std::size_t batch_examples(std::size_t batch) const {
    return std::min(batch_size_, order_.size() - batch * batch_size_);
  }

  /// The dataset index of example `i` of batch `batch`.
  std::size_t example_index(std::size_t batch, std::size_t i) const {
    return order_[batch * batch_size_ + i];
  }

  /// Writes batch `batch`'s examples into `x` (its size x the item) and their labels into
  /// `labels`; returns how many examples it holds.
  template <typename T>
  std::size_t gather(std::size_t batch, T* x, std::int32_t* labels, float* weights = nullptr,
                     T* targets = nullptr) const {
    return gather(batch, 0, batch_examples(batch), x, labels, weights, targets);
  }

  /// Writes examples [offset, offset + count) of batch `batch` (one process's part of it in
  /// data-parallel training) into `x` and `labels` (or `targets`, for a dataset of targets), and
  /// their sample weights into `weights` if it is not null and the dataset has them; returns count.
  template <typename T>
  std::size_t gather(std::size_t batch, std::size_t offset, std::size_t count, T* x, std::int32_t* labels,
                     float* weights = nullptr, T* targets = nullptr) const {
    check<ShapeError>(offset + count <= batch_examples(batch), "EpochIterator: examples [", offset, ", ",
                      offset + count, ") of batch ", batch, ", which has ", batch_examples(batch));
    if (count) data_.gather(order_.data() + batch * batch_size_ + offset, count, x, labels, weights, targets);
    return count;
  }

 private:
  const Dataset<X>& data_;
  std::size_t first_ = 0;
  std::vector<std::size_t> order_;
  std::size_t batch_size_;
};

}  // namespace tinydl
