#pragma once
/// @file rng.hpp
/// A counter-based random number generator: every draw is a pure function of
/// (seed, stream, index), so any element can be drawn by any thread in any order and the result
/// is the same with 1 thread or 16. This is what makes initialisation and dropout deterministic.
///
/// The bit generator is Philox4x32-10 (Salmon et al., "Parallel Random Numbers: As Easy as 1, 2,
/// 3", SC'11), checked in the tests against the Random123 known-answer vectors.

#include <array>
#include <cmath>
#include <cstdint>

namespace tinydl {

/// Philox4x32-10: encrypts a 128-bit counter under a 64-bit key in 10 rounds of a
/// multiply-hi/lo Feistel network, giving four 32-bit words that pass BigCrush.
inline std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> counter,
                                                  std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t multiplier0 = 0xD2511F53u, multiplier1 = 0xCD9E8D57u;
  constexpr std::uint32_t weyl0 = 0x9E3779B9u, weyl1 = 0xBB67AE85u;  // golden ratio, sqrt(3) - 1
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key is bumped before every round but the first
      key[0] += weyl0;
      key[1] += weyl1;
    }
    const std::uint64_t product0 = std::uint64_t{multiplier0} * counter[0];
    const std::uint64_t product1 = std::uint64_t{multiplier1} * counter[2];
    counter = {static_cast<std::uint32_t>(product1 >> 32) ^ counter[1] ^ key[0],
               static_cast<std::uint32_t>(product1),
               static_cast<std::uint32_t>(product0 >> 32) ^ counter[3] ^ key[1],
               static_cast<std::uint32_t>(product0)};
  }
  return counter;
}

/// Philox4x32-10 of `Lanes` counters at once, the same rounds as above on structure-of-arrays
/// (c[k][j]: word k of counter j), in loops over the lanes that the compiler turns into vector
/// multiplies (AVX2's vpmuludq: four 32x32 -> 64-bit products per instruction). One counter at a
/// time, the multiply-hi/lo chain of each round waits on the last; dropout masks drew a 401k-value
/// mask of deeper_cnn at 3.5 ns per value that way on a Zen 2 core.
template <std::size_t Lanes>
inline void philox4x32_10_lanes(std::uint32_t (&c)[4][Lanes], std::array<std::uint32_t, 2> key) {
  constexpr std::uint32_t multiplier0 = 0xD2511F53u, multiplier1 = 0xCD9E8D57u;
  constexpr std::uint32_t weyl0 = 0x9E3779B9u, weyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key[0] += weyl0;
      key[1] += weyl1;
    }
    for (std::size_t j = 0; j < Lanes; ++j) {
      const std::uint64_t product0 = std::uint64_t{multiplier0} * c[0][j];
      const std::uint64_t product1 = std::uint64_t{multiplier1} * c[2][j];
      const std::uint32_t next0 = static_cast<std::uint32_t>(product1 >> 32) ^ c[1][j] ^ key[0];
      const std::uint32_t next2 = static_cast<std::uint32_t>(product0 >> 32) ^ c[3][j] ^ key[1];
      c[1][j] = static_cast<std::uint32_t>(product1);
      c[3][j] = static_cast<std::uint32_t>(product0);
      c[0][j] = next0;
      c[2][j] = next2;
    }
  }
}

/// Well-known stream numbers, so that the users of one seed never draw the same numbers.
enum class RngStream : std::uint64_t {
  init = 1,            ///< parameter initialisation (plus the parameter's index in the model)
  dropout = 1u << 20,  ///< dropout masks (plus the layer's index)
  shuffle = 1u << 21,  ///< data shuffling
  augment = 1u << 22,  ///< image augmentation (data/augmentation.hpp)
  user = 1u << 30,     ///< free for user code
};

/// The stream of part `part` of whatever `stream` names (a layer inside a `Residual` block draws
/// from `substream(block's stream, its position)`): the splitmix64 finaliser of both, so parts of
/// parts stay apart too; a multiple of 256, leaving the low byte for the part's own parameters.
/// Its low 32 bits (what Dropout keeps) are not zero, and not those of a well-known stream.
inline std::uint64_t substream(std::uint64_t stream, std::uint64_t part) {
  std::uint64_t z = stream + 0x9E3779B97F4A7C15ull * (part + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (z & ~std::uint64_t{0xFF}) | (std::uint64_t{1} << 31);  // bit 31: above every RngStream
}

/// A stateless generator: `seed` picks the key, each draw names its (stream, index).
class CounterRng {
 public:
  explicit CounterRng(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }

  /// The four 32-bit words of block `index` of stream `stream`.
  std::array<std::uint32_t, 4> block(std::uint64_t stream, std::uint64_t index) const {
    return philox4x32_10({static_cast<std::uint32_t>(index), static_cast<std::uint32_t>(index >> 32),
                          static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32)},
                         {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
  }

  /// The blocks `first` .. `first + Lanes - 1` of stream `stream` at once: words[k][j] is word k
  /// of block first + j, the same bits as `block(stream, first + j)[k]`.
  template <std::size_t Lanes>
  void blocks(std::uint64_t stream, std::uint64_t first, std::uint32_t (&words)[4][Lanes]) const {
    for (std::size_t j = 0; j < Lanes; ++j) {
      const std::uint64_t index = first + j;
      words[0][j] = static_cast<std::uint32_t>(index);
      words[1][j] = static_cast<std::uint32_t>(index >> 32);
      words[2][j] = static_cast<std::uint32_t>(stream);
      words[3][j] = static_cast<std::uint32_t>(stream >> 32);
    }
    philox4x32_10_lanes(words, {static_cast<std::uint32_t>(seed_), static_cast<std::uint32_t>(seed_ >> 32)});
  }

  /// A 64-bit draw.
  std::uint64_t bits(std::uint64_t stream, std::uint64_t index) const {
    const auto w = block(stream, index);
    return (std::uint64_t{w[1]} << 32) | w[0];
  }

  /// Uniform in [0, 1), with 53 random bits.
  double uniform(std::uint64_t stream, std::uint64_t index) const {
    return static_cast<double>(bits(stream, index) >> 11) * 0x1.0p-53;
  }

  /// Standard normal N(0, 1) by the Box-Muller transform of two uniforms of one block:
  /// z = sqrt(-2 ln u1) * cos(2 pi u2), with u1 in (0, 1] so the logarithm is finite.
  double normal(std::uint64_t stream, std::uint64_t index) const {
    const auto w = block(stream, index);
    const double u1 = (static_cast<double>((std::uint64_t{w[1]} << 32 | w[0]) >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>((std::uint64_t{w[3]} << 32 | w[2]) >> 11) * 0x1.0p-53;
    constexpr double two_pi = 6.283185307179586476925286766559;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(two_pi * u2);
  }

  /// Uniform integer in [0, n), by Lemire's multiply-shift of a 64-bit draw (bias below n / 2^64).
  std::uint64_t below(std::uint64_t n, std::uint64_t stream, std::uint64_t index) const {
    __extension__ using uint128 = unsigned __int128;  // GCC/Clang extension; silences -Wpedantic
    return static_cast<std::uint64_t>((static_cast<uint128>(bits(stream, index)) * n) >> 64);
  }

 private:
  std::uint64_t seed_;
};

}  // namespace tinydl
