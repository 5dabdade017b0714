#pragma once
/// @file batch_shards.hpp
/// `BatchShards`: how one training batch is cut into shards, so that data-parallel training gives
/// the same bits with any number of processes.
///
/// A global batch of n examples is cut into S contiguous shards (shard s holds examples
/// [s n / S, (s + 1) n / S)); process r of N holds shards [r S / N, (r + 1) S / N), a contiguous
/// run of examples. Every sum over the examples of a batch (a weight gradient, BatchNorm's batch
/// statistics, the loss) is taken per shard, each process's per-shard partial sums are gathered
/// by every process, and every process adds the S partials in shard order:
///
///     total = (((p_0 + p_1) + p_2) + ... + p_{S-1})
///
/// MPI's reductions promise no order of summation; this one is fixed, and a shard's partial
/// depends only on the shard's examples. So N = 1, 2, 3, ... processes (any N <= S) and any
/// thread count give byte-identical weights. S is fixed by the user, not by N.
///
/// The fast mode (`Summation::reduce`, FitOptions::exact = false) trades that for speed: one shard
/// per process (S = N), and the sums are one MPI_Allreduce each, in whatever order MPI adds.

#include <cstddef>
#include <vector>

#include "tinydl/core/communicator.hpp"
#include "tinydl/core/error.hpp"

namespace tinydl {

/// How the per-shard sums are combined: gathered and added in shard order (the same bits for any
/// number of processes), or reduced by the communicator in its own order (faster).
enum class Summation { shard_order, reduce };

/// The shard layout of one batch on this process; see the file comment.
class BatchShards {
 public:
  /// S = `shards` shards of batches spread over the processes of `communicator` (with
  /// Summation::reduce, S must be the number of processes).
  BatchShards(Communicator& communicator, std::size_t shards, Summation summation = Summation::shard_order)
      : communicator_(&communicator), shards_(shards), summation_(summation) {
    const auto processes = static_cast<std::size_t>(communicator.size());
    check<ConfigError>(shards >= 1 && shards >= processes, "data-parallel training: ", shards,
                       " gradient shards cannot be spread over ", processes,
                       " processes (each needs at least one; raise FitOptions::gradient_shards)");
    const auto rank = static_cast<std::size_t>(communicator.rank());
    first_shard_ = rank * shards / processes;
    last_shard_ = (rank + 1) * shards / processes;
    check<ConfigError>(summation == Summation::shard_order || shards == processes,
                       "BatchShards: the reduce summation takes one shard per process");
    counts_.resize(processes);
  }

  /// Sets the size of the batch about to run (the last batch of an epoch may be smaller).
  void set_batch(std::size_t global_batch) { global_batch_ = global_batch; }

  Communicator& communicator() const { return *communicator_; }
  std::size_t shards() const { return shards_; }
  std::size_t global_batch() const { return global_batch_; }
  std::size_t local_shards() const { return last_shard_ - first_shard_; }

  /// Global index of shard s's first example (s <= shards()).
  std::size_t shard_begin(std::size_t s) const { return s * global_batch_ / shards_; }
  /// Global index of this process's first example.
  std::size_t offset() const { return shard_begin(first_shard_); }
  /// Examples on this process (may be 0 when the batch has fewer examples than shards).
  std::size_t local_batch() const { return shard_begin(last_shard_) - offset(); }
  /// Local index of the first example of local shard i (i <= local_shards()).
  std::size_t local_begin(std::size_t i) const { return shard_begin(first_shard_ + i) - offset(); }

  /// Gathers `row` values per shard from every process into `all` (shards() x row, in shard
  /// order) and writes their sum in shard order to `total` (row values). `local` holds this
  /// process's local_shards() rows.
  template <typename T>
  void sum(const T* local, std::size_t row, T* all, T* total) {
    if (summation_ == Summation::reduce) {  // one shard per process: the sum of its row
      communicator_->all_reduce_sum(local, total, row);
      return;
    }
    if (counts_.size() > 1) {
      communicator_->all_gather(local, all, counts(row));
    } else {
      all = const_cast<T*>(local);  // alone, the local rows are all the rows (read only below)
    }
    add_in_shard_order(all, row, total);
  }

  /// `sum` in two halves, so that computation can go on while the rows travel: `start_sum`
  /// begins the exchange (the buffers must stay untouched), `finish_sum` waits for it and adds.
  /// Returns the handle for finish_sum.
  template <typename T>
  std::size_t start_sum(const T* local, std::size_t row, T* all) {
    if (summation_ == Summation::reduce || counts_.size() == 1) return 0;  // done in finish_sum
    return communicator_->start_all_gather(local, all, counts(row));
  }
  template <typename T>
  void finish_sum(std::size_t request, const T* local, std::size_t row, T* all, T* total) {
    if (summation_ == Summation::reduce || counts_.size() == 1) {
      sum(local, row, all, total);
      return;
    }
    communicator_->wait(request);
    add_in_shard_order(all, row, total);
  }

 private:
  /// Values per process when every shard contributes `row` values (in a buffer reused by every
  /// exchange, which a started gather reads only until `start_all_gather` returns).
  const std::vector<std::size_t>& counts(std::size_t row) {
    const auto processes = counts_.size();
    for (std::size_t r = 0; r < processes; ++r)
      counts_[r] = ((r + 1) * shards_ / processes - r * shards_ / processes) * row;
    return counts_;
  }

  /// total = (((all_0 + all_1) + all_2) + ...), the rows of all shards in shard order.
  template <typename T>
  void add_in_shard_order(const T* all, std::size_t row, T* total) const {
    for (std::size_t j = 0; j < row; ++j) total[j] = all[j];
    for (std::size_t s = 1; s < shards_; ++s)
      for (std::size_t j = 0; j < row; ++j) total[j] += all[s * row + j];
  }

  Communicator* communicator_;
  std::size_t shards_;
  Summation summation_;
  std::size_t global_batch_ = 0, first_shard_ = 0, last_shard_ = 0;
  std::vector<std::size_t> counts_;  // per process, reused by every exchange
};

}  // namespace tinydl
