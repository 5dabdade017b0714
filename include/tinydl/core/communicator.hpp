#pragma once
/// @file communicator.hpp
/// `Communicator`: the few collective operations data-parallel training needs, as an interface the
/// library can call without knowing MPI. `tinydl/distributed/mpi_communicator.hpp` implements it
/// over MPI; `LocalCommunicator` is the one-process case (every collective is a copy), which is
/// what a model trains with when no communicator is given.
///
/// Every process calls every collective in the same order with the same sizes; the sizes of the
/// per-process parts are passed explicitly (`counts`), so a collective never needs a prior
/// exchange of sizes.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "tinydl/core/error.hpp"

namespace tinydl {

/// A group of processes that train one model together; see the file comment.
class Communicator {
 public:
  virtual ~Communicator() = default;

  /// This process's index in [0, size()).
  virtual int rank() const = 0;
  /// The number of processes.
  virtual int size() const = 0;

  /// Concatenation in rank order: process r contributes counts[r] values from `local`, and every
  /// process receives all of them, sum(counts) values, in `all`. `counts` has size() entries and
  /// is the same on every process.
  virtual void all_gather(const float* local, float* all, const std::vector<std::size_t>& counts) = 0;
  virtual void all_gather(const double* local, double* all, const std::vector<std::size_t>& counts) = 0;

  /// `all_gather` begun without waiting for it, so computation can go on meanwhile (a layer's
  /// gradient exchange during the backward pass of the layers below it). `local`, `all` and
  /// `counts` must stay untouched until `wait` returns. Returns the handle for `wait`. The
  /// default gathers at once.
  virtual std::size_t start_all_gather(const float* local, float* all,
                                       const std::vector<std::size_t>& counts) {
    all_gather(local, all, counts);
    return 0;
  }
  virtual std::size_t start_all_gather(const double* local, double* all,
                                       const std::vector<std::size_t>& counts) {
    all_gather(local, all, counts);
    return 0;
  }
  /// Waits until the gather `request` of `start_all_gather` is complete. Every started gather
  /// must be waited for, in any order, before the next training step starts any.
  virtual void wait(std::size_t request) { (void)request; }

  /// out = the elementwise sum of every process's `count` values of `local`, on every process, in
  /// an order MPI does not promise (FitOptions::exact = false: faster, not bit-reproducible).
  virtual void all_reduce_sum(const float* local, float* out, std::size_t count) = 0;
  virtual void all_reduce_sum(const double* local, double* out, std::size_t count) = 0;

  /// Every process receives root's `count` bytes in `data`.
  virtual void broadcast(void* data, std::size_t count, int root) = 0;

  /// Ends every process of the group with `message` (printed by this process): for an error that
  /// happened on one process only, after which the others would wait forever in a collective.
  /// Does not return.
  virtual void abort(const std::string& message) = 0;

  /// Whether this process writes files and prints (rank 0).
  bool is_root() const { return rank() == 0; }
};

/// One process: every collective is a copy.
class LocalCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_gather(const float* local, float* all, const std::vector<std::size_t>& counts) override {
    std::copy(local, local + counts.at(0), all);
  }
  void all_gather(const double* local, double* all, const std::vector<std::size_t>& counts) override {
    std::copy(local, local + counts.at(0), all);
  }
  void all_reduce_sum(const float* local, float* out, std::size_t count) override {
    std::copy(local, local + count, out);
  }
  void all_reduce_sum(const double* local, double* out, std::size_t count) override {
    std::copy(local, local + count, out);
  }
  void broadcast(void*, std::size_t, int) override {}
  /// Alone, nobody waits: the error is thrown as usual.
  void abort(const std::string& message) override { throw Error(message); }
};

}  // namespace tinydl
