#pragma once
/// @file gemm_microkernel.hpp
/// The GEMM micro-kernel: the innermost, register-blocked loop of the BLIS/Goto algorithm.
///
/// It multiplies one packed micro-panel of A (MR rows, kc deep: for each k, MR values) by one
/// micro-panel of B (kc deep, NR columns: for each k, NR values, rows `ldb` apart — NR when B was
/// packed, B's own row stride when it is read in place) and updates an MR x NR tile of row-major C:
///
///     C[i][j] = alpha * sum_k A[k][i] * B[k][j]  +  beta * C[i][j]      (C is not read if beta == 0)
///
/// The MR x NR sums live in vector registers for the whole k loop: per k, NR/width vector loads
/// of B, MR broadcasts of A, and MR * NR/width fused multiply-adds.
///
/// Tile sizes per instruction set (float; double has the same MR and half the NR):
/// - AVX-512: 8 x 48 = 24 zmm accumulators + 3 for B. M = 32 and 64 (the conv layers' output
///   channels) are multiples of 8, so no rows are wasted on edge tiles.
/// - AVX2+FMA: 4 x 24 = 12 ymm accumulators + 3 for B + 1 broadcast, all 16 registers.
/// - generic: 4 x 8 plain loops that the compiler vectorises as it can.

#include <cstddef>

#include "tinydl/kernels/simd.hpp"

namespace tinydl::kernels {

/// The micro-tile of the compiled instruction set for scalar type T.
template <typename T>
struct MicroTile {
#if defined(__AVX512F__)
  static constexpr std::size_t mr = 8, nr = 3 * Simd<T>::width;
#elif defined(__AVX2__) && defined(__FMA__)
  static constexpr std::size_t mr = 4, nr = 3 * Simd<T>::width;
#else
  static constexpr std::size_t mr = 4, nr = 8;
#endif
};

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

/// Vector micro-kernel: MR rows, NR = vectors * width columns, see the file comment.
template <typename T, std::size_t MR = MicroTile<T>::mr, std::size_t NR = MicroTile<T>::nr>
inline void gemm_microkernel(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha, T beta,
                             T* c, std::size_t ldc) {
  using V = Simd<T>;
  constexpr std::size_t vectors = NR / V::width;
  static_assert(NR % V::width == 0, "NR must be a whole number of vectors");
  typename V::Reg sum[MR][vectors];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < vectors; ++v) sum[i][v] = V::zero();

  for (std::size_t k = 0; k < kc; ++k) {
    typename V::Reg b[vectors];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < vectors; ++v) b[v] = V::load(b_panel + v * V::width);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i) {
      const typename V::Reg a = V::broadcast(a_panel + i);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < vectors; ++v) sum[i][v] = V::fmadd(a, b[v], sum[i][v]);
    }
    a_panel += MR;
    b_panel += ldb;
  }

  const typename V::Reg alpha_v = V::set1(alpha);
  if (beta == T(0)) {  // overwrite: C may hold garbage, even NaN, that must not propagate
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < vectors; ++v) V::store(c + i * ldc + v * V::width, V::mul(alpha_v, sum[i][v]));
  } else {
    const typename V::Reg beta_v = V::set1(beta);
#pragma GCC unroll 16
    for (std::size_t i = 0; i < MR; ++i)
#pragma GCC unroll 4
      for (std::size_t v = 0; v < vectors; ++v) {
        T* cp = c + i * ldc + v * V::width;
        V::store(cp, V::fmadd(alpha_v, sum[i][v], V::mul(beta_v, V::load(cp))));
      }
  }
}

#else

/// Portable micro-kernel: the same contract as the vector one, in plain loops.
template <typename T, std::size_t MR = MicroTile<T>::mr, std::size_t NR = MicroTile<T>::nr>
inline void gemm_microkernel(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha, T beta,
                             T* c, std::size_t ldc) {
  T sum[MR][NR] = {};
  for (std::size_t k = 0; k < kc; ++k) {
    for (std::size_t i = 0; i < MR; ++i)
      for (std::size_t j = 0; j < NR; ++j) sum[i][j] += a_panel[i] * b_panel[j];
    a_panel += MR;
    b_panel += ldb;
  }
  for (std::size_t i = 0; i < MR; ++i)
    for (std::size_t j = 0; j < NR; ++j) {
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * sum[i][j] : alpha * sum[i][j] + beta * cij;
    }
}

#endif

}  // namespace tinydl::kernels
