#pragma once
/// @file cache_sizes.hpp
/// The data cache sizes of the CPU this runs on, read once at run time, so that kernels size
/// their blocks for the machine in hand (512 KiB of L2 per core on AMD Zen 2-3, 1 MiB on Zen 4,
/// 2 MiB on Intel Sapphire and Emerald Rapids) rather than for the one they were tuned on.

#include <algorithm>
#include <cstddef>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace tinydl {

/// Bytes of data cache per core at each level (L3: the whole shared cache).
struct CacheSizes {
  std::size_t l1d = 32 * 1024;
  std::size_t l2 = 512 * 1024;
  std::size_t l3 = 8 * 1024 * 1024;
};

namespace detail {

/// `fallback` unless sysconf knows the value and it is plausible (virtual machines sometimes
/// report 0 or nonsense).
inline std::size_t cache_size_or(int name, std::size_t fallback) {
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  const long bytes = sysconf(name);
  if (bytes >= 8 * 1024 && bytes <= 1024L * 1024 * 1024) return static_cast<std::size_t>(bytes);
#else
  (void)name;
#endif
  return fallback;
}

}  // namespace detail

/// The caches of this machine (glibc reads them with cpuid); the defaults where it cannot tell.
inline const CacheSizes& cache_sizes() {
  static const CacheSizes sizes = [] {
    CacheSizes s;
#if defined(_SC_LEVEL1_DCACHE_SIZE)
    s.l1d = detail::cache_size_or(_SC_LEVEL1_DCACHE_SIZE, s.l1d);
    s.l2 = std::max(s.l1d, detail::cache_size_or(_SC_LEVEL2_CACHE_SIZE, s.l2));
    s.l3 = std::max(s.l2, detail::cache_size_or(_SC_LEVEL3_CACHE_SIZE, s.l3));
#endif
    return s;
  }();
  return sizes;
}

}  // namespace tinydl
