#pragma once
/// @file parallel.hpp
/// The thread count of tinydl's OpenMP loops. Without OpenMP everything runs serially and these
/// functions report one thread. The default is OpenMP's: `OMP_NUM_THREADS`, else the core count.

#include "tinydl/core/error.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tinydl {

/// Sets how many threads tinydl's parallel loops use (n >= 1). Throws `ConfigError` for 0.
inline void set_num_threads(int n) {
  check<ConfigError>(n >= 1, "set_num_threads: need at least 1 thread, got ", n);
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

/// True when this build has OpenMP.
inline constexpr bool has_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace tinydl
