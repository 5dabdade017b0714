#pragma once
/// @file dropout.hpp
/// Inverted dropout: keep each element with probability `keep` and scale the kept ones by 1/keep,
/// so the expected output equals the input and evaluation needs no rescaling.
///
/// The mask is a pure function of (seed, stream, element): element i keeps when the 32-bit word
/// i % 4 of Philox block i / 4 is below keep * 2^32. Any thread may draw any element, so the mask
/// is the same for any thread count.

#include <cstddef>
#include <cstdint>

#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"

namespace tinydl::kernels {

/// mask[i] = 1 with probability `keep` (0 <= keep <= 1), else 0, for i < n: the draws of elements
/// [first, first + n) of the stream (`first` > 0 for a process's part of a data-parallel batch,
/// which must draw what one process drawing the whole batch would).
inline void dropout_mask(const CounterRng& rng, std::uint64_t stream, std::size_t n, double keep,
                         std::uint8_t* mask, std::size_t first = 0) {
  const std::uint64_t threshold = static_cast<std::uint64_t>(keep * 4294967296.0);  // keep * 2^32
  const std::size_t first_block = first / 4, end_block = (first + n + 3) / 4, blocks_per_task = 4096;
  const std::size_t blocks = end_block - first_block;
  const std::size_t lo = first, hi = first + n;  // the elements wanted
  parallel_for(
      (blocks + blocks_per_task - 1) / blocks_per_task, [&, lo, hi, threshold](std::size_t task, int) {
        const std::size_t begin = first_block + task * blocks_per_task;
        const std::size_t end = begin + blocks_per_task < end_block ? begin + blocks_per_task : end_block;
        constexpr std::size_t lanes = 16;  // blocks drawn at once (vectorised Philox)
        std::size_t block = begin;
        for (; block + lanes <= end; block += lanes) {
          std::uint32_t words[4][lanes];
          rng.blocks(stream, block, words);
          if (4 * block >= lo && 4 * (block + lanes) <= hi) {  // the whole chunk is wanted: no checks
            std::uint8_t* out = mask + (4 * block - lo);
            for (std::size_t j = 0; j < lanes; ++j)
              for (std::size_t k = 0; k < 4; ++k) out[4 * j + k] = words[k][j] < threshold;
            continue;
          }
          for (std::size_t j = 0; j < lanes; ++j)
            for (std::size_t k = 0; k < 4; ++k) {
              const std::size_t element = 4 * (block + j) + k;
              if (element >= lo && element < hi) mask[element - lo] = words[k][j] < threshold;
            }
        }
        for (; block < end; ++block) {
          const auto words = rng.block(stream, block);
          for (std::size_t k = 0; k < 4; ++k) {
            const std::size_t element = 4 * block + k;
            if (element >= lo && element < hi) mask[element - lo] = words[k] < threshold;
          }
        }
      });
}

/// y = x * mask * scale (scale = 1 / keep, or 0 when nothing is kept). `y` may alias `x`.
template <typename T>
void dropout_apply(std::size_t n, const T* x, const std::uint8_t* mask, T scale, T* y) {
  parallel_ranges(n, [=](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) y[i] = mask[i] ? x[i] * scale : T(0);
  });
}

}  // namespace tinydl::kernels
