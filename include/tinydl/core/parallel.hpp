#pragma once
/// @file parallel.hpp
/// The thread count of tinydl's OpenMP loops. Without OpenMP everything runs serially and these
/// functions report one thread. The default is OpenMP's: `OMP_NUM_THREADS`, else the core count.

#include <algorithm>
#include <cstddef>

#include "tinydl/core/error.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tinydl {

/// The most threads `set_num_threads` accepts. Far more threads than cores only slows the
/// kernels, and under a process limit the OpenMP runtime crashes when it cannot start them.
constexpr int max_threads = 1024;

/// Sets how many threads tinydl's parallel loops use, 1 to `max_threads`. Throws `ConfigError`
/// outside that range.
inline void set_num_threads(int n) {
  check<ConfigError>(n >= 1 && n <= max_threads, "set_num_threads: need 1 to ", max_threads, " threads, got ",
                     n);
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
}

/// How many threads a parallel loop started now would use (1 inside an already-parallel region,
/// since tinydl never nests parallelism, and 1 without OpenMP).
inline int num_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

/// The index of the calling thread in the current parallel region (0 outside one).
inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/// Calls body(i, thread) for i in [0, n), spread over the threads in contiguous static blocks
/// when there is more than one item and more than one thread. `thread` (0 .. num_threads()-1)
/// picks per-thread scratch. The body must not throw: it runs inside an OpenMP region.
template <typename Body>
void parallel_for(std::size_t n, Body&& body) {
  // Serially without any OpenMP region (not `parallel if (false)`): a kernel inside the body may
  // start its own parallel region, and under an inactive region libgomp gives that one a nested
  // team of fresh threads instead of its warm pool (seen: one image through basic_cnn on 2
  // threads took 4 ms instead of 0.15, both cores spinning).
  if (n <= 1 || num_threads() <= 1) {
    for (std::size_t i = 0; i < n; ++i) body(i, 0);
    return;
  }
  const long count = static_cast<long>(n);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < count; ++i) body(static_cast<std::size_t>(i), thread_index());
}

/// Elements below which an elementwise loop runs on one thread: starting a parallel region costs
/// a few microseconds, about what one core needs for this many simple float operations.
inline constexpr std::size_t parallel_grain = std::size_t{1} << 15;

/// Calls body(begin, end) on contiguous ranges covering [0, n): one range per thread when n is at
/// least `grain` per thread, else the whole range on the calling thread. For elementwise loops,
/// whose results do not depend on how the range is split. The body must not throw.
template <typename Body>
void parallel_ranges(std::size_t n, Body&& body, std::size_t grain = parallel_grain) {
  const std::size_t threads = static_cast<std::size_t>(num_threads());
  const std::size_t parts = std::min(threads, n / std::max<std::size_t>(grain, 1));
  if (parts <= 1) {
    if (n) body(std::size_t{0}, n);
    return;
  }
  const long count = static_cast<long>(parts);
#pragma omp parallel for schedule(static) num_threads(static_cast <int>(parts))
  for (long part = 0; part < count; ++part) {
    const std::size_t i = static_cast<std::size_t>(part);
    body(n * i / parts, n * (i + 1) / parts);
  }
}

/// True when this build has OpenMP.
inline constexpr bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace tinydl
