#pragma once
/// @file scratch.hpp
/// Grow-only scratch memory for layers: sized once for the largest batch (at `reserve`, or on the
/// first pass that needs more), then reused, so steady-state training allocates nothing.

#include <cstddef>
#include <vector>

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/parallel.hpp"

namespace tinydl {

/// Makes `buffer` hold at least `n` elements; reallocates (losing the contents) only to grow.
template <typename T>
void ensure_capacity(AlignedBuffer<T>& buffer, std::size_t n) {
  if (buffer.size() < n) buffer = AlignedBuffer<T>(n);
}

/// One scratch buffer per thread, for parallel loops whose iterations each need private space.
template <typename T>
class ThreadScratch {
 public:
  /// Gives each of the threads a parallel loop started now would use at least `n` elements.
  /// Call outside parallel regions.
  void reserve(std::size_t n) {
    const std::size_t threads = static_cast<std::size_t>(num_threads());
    if (buffers_.size() < threads) buffers_.resize(threads);
    for (auto& buffer : buffers_) ensure_capacity(buffer, n);
  }

  /// The buffer of thread `thread` (as passed by `parallel_for`).
  T* get(int thread) { return buffers_[static_cast<std::size_t>(thread)].data(); }

 private:
  std::vector<AlignedBuffer<T>> buffers_;
};

}  // namespace tinydl
