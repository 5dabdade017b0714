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
///
/// Edges of C (fewer than MR rows or NR columns left) use smaller instances of the same kernel,
/// chosen by `microkernel_for(rows, cols)`, so C never goes through a copy and an edge costs only
/// the rows and vectors it computes.

#include <algorithm>
#include <array>
#include <cstddef>
#include <utility>

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

/// Asks for the cache lines of the MR x NR tile of C at `c`, for writing, before the k loop:
/// the loop's kc iterations are time enough for them to arrive, where the stores at the end
/// would otherwise wait on memory (C is often too big for the caches: 64 x 12544 floats).
template <std::size_t MR, std::size_t NR, typename T>
inline void prefetch_tile(const T* c, std::size_t ldc) {
  constexpr std::size_t line = 64 / sizeof(T);
  for (std::size_t i = 0; i < MR; ++i) {
    for (std::size_t j = 0; j < NR; j += line) __builtin_prefetch(c + i * ldc + j, 1, 3);
    __builtin_prefetch(c + i * ldc + NR - 1, 1, 3);  // the row's last line when c is not aligned
  }
}

/// One micro-kernel call: `rows` x `cols` of C (at most MR x NR) from an A micro-panel (MR values
/// per k, the first `rows` used) and a B micro-panel whose first `cols` columns are used.
template <typename T>
using MicroKernel = void (*)(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha,
                             T beta, T* c, std::size_t ldc, std::size_t cols, const T* prefetch,
                             std::size_t prefetch_ld);

/// An implicit-GEMM micro-kernel call: as `MicroKernel`, with B's k-th row at b + row_offset[k].
template <typename T>
using OffsetMicroKernel = void (*)(std::size_t kc, const T* a_panel, const T* b,
                                   const std::ptrdiff_t* row_offset, T alpha, T beta, T* c, std::size_t ldc,
                                   std::size_t cols);

/// A micro-kernel call with A read in place: C = A B + beta C for A's rows at a_rows[i], B packed.
template <typename T>
using ARowsMicroKernel = void (*)(std::size_t kc, const T* const* a_rows, const T* b_panel, T beta, T* c,
                                  std::size_t ldc, std::size_t cols);

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

/// C = alpha * sum + beta * C for a Rows x (Vectors * width) tile whose last vector holds
/// `cols - (Vectors - 1) * width` columns; with beta == 0, C is not read (it may hold garbage,
/// even NaN).
template <typename T, std::size_t Rows, std::size_t Vectors>
inline void store_tile(const typename Simd<T>::Reg (&sum)[Rows][Vectors], T alpha, T beta, T* c,
                       std::size_t ldc, std::size_t cols) {
  using V = Simd<T>;
  using Reg = typename V::Reg;
  constexpr std::size_t W = V::width;
  const Reg alpha_v = V::set1(alpha), beta_v = V::set1(beta);
  const auto update = [&](Reg s, const T* old) {
    return beta == T(0) ? V::mul(alpha_v, s) : V::fmadd(alpha_v, s, V::mul(beta_v, V::load(old)));
  };
  const std::size_t last_width = cols - (Vectors - 1) * W;  // 1 .. W columns in the last vector
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Rows; ++i) {
    T* row = c + i * ldc;
#pragma GCC unroll 4
    for (std::size_t v = 0; v + 1 < Vectors; ++v) V::store(row + v * W, update(sum[i][v], row + v * W));
    T* tail = row + (Vectors - 1) * W;
    if (last_width == W) {
      V::store(tail, update(sum[i][Vectors - 1], tail));
    } else {
      alignas(64) T buffer[W] = {};
      if (beta != T(0)) std::copy(tail, tail + last_width, buffer);
      V::store(buffer, update(sum[i][Vectors - 1], buffer));
      std::copy(buffer, buffer + last_width, tail);
    }
  }
}

/// Vector micro-kernel for a Rows x (Vectors * width) block of C, see the file comment. The full
/// tile is Rows = MR, Vectors = NR / width; the smaller instances serve the edges of C, so an
/// edge costs what it computes (C with 9 rows is one 8-row and one 1-row pass, not two 8-row
/// ones). `cols` may end inside the last vector, which is then written through a small buffer.
/// Every element of C gets the same arithmetic in every instance (one FMA chain over k, then
/// alpha and beta), which keeps results independent of where tile boundaries fall.
template <typename T, std::size_t Rows, std::size_t Vectors>
void gemm_microkernel(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha, T beta,
                      T* c, std::size_t ldc, std::size_t cols, const T* prefetch, std::size_t prefetch_ld) {
  using V = Simd<T>;
  using Reg = typename V::Reg;
  constexpr std::size_t MR = MicroTile<T>::mr, W = V::width;
  Reg sum[Rows][Vectors];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::zero();
  prefetch_tile<Rows, Vectors * W>(c, ldc);

  for (std::size_t k = 0; k < kc; ++k) {
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) __builtin_prefetch(prefetch + v * W, 0, 3);
    prefetch += prefetch_ld;
    Reg b[Vectors];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) {
      b[v] = V::load(b_panel + v * W);
      // Keeps b[v] in a register. GCC otherwise folds the load into every row's FMA as a memory
      // operand: Rows loads of each B vector per k instead of one. With AVX2's 16 registers
      // (12 accumulators, alpha and beta live) it did, and 4 x 24 needed 16 loads per 12 FMAs
      // on two load ports: 59% of a Zen 2 core's FMA peak on 1024^3, 86% with this.
      __asm__("" : "+v"(b[v]));
    }
#pragma GCC unroll 16
    for (std::size_t i = 0; i < Rows; ++i) {
      const Reg a = V::broadcast(a_panel + i);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::fmadd(a, b[v], sum[i][v]);
    }
    a_panel += MR;
    b_panel += ldb;
  }

  store_tile<T, Rows, Vectors>(sum, alpha, beta, c, ldc, cols);
}

/// The same tile with B's k-th row at `b + row_offset[k]` rather than `ldb` apart: an implicit
/// GEMM, whose B is never built. In a stride-1 convolution every row of the column matrix is the
/// padded image shifted by a fixed offset (conv2d_implicit.hpp), so B is the image itself, read
/// in place. The arithmetic is `gemm_microkernel`'s, so the bits are too.
template <typename T, std::size_t Rows, std::size_t Vectors>
void gemm_microkernel_offsets(std::size_t kc, const T* a_panel, const T* b, const std::ptrdiff_t* row_offset,
                              T alpha, T beta, T* c, std::size_t ldc, std::size_t cols) {
  using V = Simd<T>;
  using Reg = typename V::Reg;
  constexpr std::size_t MR = MicroTile<T>::mr, W = V::width;
  Reg sum[Rows][Vectors];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::zero();
  prefetch_tile<Rows, Vectors * W>(c, ldc);

  for (std::size_t k = 0; k < kc; ++k) {
    const T* b_row = b + row_offset[k];
    Reg b_v[Vectors];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) {
      b_v[v] = V::load(b_row + v * W);
      __asm__("" : "+v"(b_v[v]));  // one load per vector, as in gemm_microkernel
    }
#pragma GCC unroll 16
    for (std::size_t i = 0; i < Rows; ++i) {
      const Reg a = V::broadcast(a_panel + i);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::fmadd(a, b_v[v], sum[i][v]);
    }
    a_panel += MR;
  }
  store_tile<T, Rows, Vectors>(sum, alpha, beta, c, ldc, cols);
}

/// The tile with A read in place: A's row i is the run a_rows[i][0 .. kc) (B packed, NR per k).
/// A weight gradient's column matrix has its rows in the padded images (conv2d_implicit.hpp),
/// and so needs no copy. alpha is 1.
template <typename T, std::size_t Rows, std::size_t Vectors>
void gemm_microkernel_a_rows(std::size_t kc, const T* const* a_rows, const T* b_panel, T beta, T* c,
                             std::size_t ldc, std::size_t cols) {
  using V = Simd<T>;
  using Reg = typename V::Reg;
  constexpr std::size_t NR = MicroTile<T>::nr, W = V::width;
  Reg sum[Rows][Vectors];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Rows; ++i)
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::zero();
  const T* a[Rows];
#pragma GCC unroll 16
  for (std::size_t i = 0; i < Rows; ++i) a[i] = a_rows[i];
  prefetch_tile<Rows, Vectors * W>(c, ldc);

  for (std::size_t k = 0; k < kc; ++k) {
    Reg b_v[Vectors];
#pragma GCC unroll 4
    for (std::size_t v = 0; v < Vectors; ++v) {
      b_v[v] = V::load(b_panel + v * W);
      __asm__("" : "+v"(b_v[v]));  // one load per vector, as in gemm_microkernel
    }
#pragma GCC unroll 16
    for (std::size_t i = 0; i < Rows; ++i) {
      const Reg a_v = V::broadcast(a[i] + k);
#pragma GCC unroll 4
      for (std::size_t v = 0; v < Vectors; ++v) sum[i][v] = V::fmadd(a_v, b_v[v], sum[i][v]);
    }
    b_panel += NR;
  }
  store_tile<T, Rows, Vectors>(sum, T(1), beta, c, ldc, cols);
}

namespace detail {

template <typename T, std::size_t Rows, std::size_t... V>
constexpr std::array<ARowsMicroKernel<T>, sizeof...(V)> a_rows_microkernels_with_rows(
    std::index_sequence<V...>) {
  return {&gemm_microkernel_a_rows<T, Rows, V + 1>...};
}

template <typename T, std::size_t... R>
constexpr auto a_rows_microkernel_table(std::index_sequence<R...>) {
  constexpr std::size_t vectors = MicroTile<T>::nr / Simd<T>::width;
  return std::array{a_rows_microkernels_with_rows<T, R + 1>(std::make_index_sequence<vectors>{})...};
}

}  // namespace detail

/// The A-in-place micro-kernel for a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
ARowsMicroKernel<T> a_rows_microkernel_for(std::size_t rows, std::size_t cols) {
  static constexpr auto table =
      detail::a_rows_microkernel_table<T>(std::make_index_sequence<MicroTile<T>::mr>{});
  return table[rows - 1][(cols + Simd<T>::width - 1) / Simd<T>::width - 1];
}

namespace detail {

template <typename T, std::size_t Rows, std::size_t... V>
constexpr std::array<OffsetMicroKernel<T>, sizeof...(V)> offset_microkernels_with_rows(
    std::index_sequence<V...>) {
  return {&gemm_microkernel_offsets<T, Rows, V + 1>...};
}

template <typename T, std::size_t... R>
constexpr auto offset_microkernel_table(std::index_sequence<R...>) {
  constexpr std::size_t vectors = MicroTile<T>::nr / Simd<T>::width;
  return std::array{offset_microkernels_with_rows<T, R + 1>(std::make_index_sequence<vectors>{})...};
}

}  // namespace detail

/// The implicit-GEMM micro-kernel for a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
OffsetMicroKernel<T> offset_microkernel_for(std::size_t rows, std::size_t cols) {
  static constexpr auto table =
      detail::offset_microkernel_table<T>(std::make_index_sequence<MicroTile<T>::mr>{});
  return table[rows - 1][(cols + Simd<T>::width - 1) / Simd<T>::width - 1];
}

namespace detail {

template <typename T, std::size_t Rows, std::size_t... V>
constexpr std::array<MicroKernel<T>, sizeof...(V)> microkernels_with_rows(std::index_sequence<V...>) {
  return {&gemm_microkernel<T, Rows, V + 1>...};
}

/// table[rows - 1][vectors - 1] is the micro-kernel for rows x (vectors * width) blocks.
template <typename T, std::size_t... R>
constexpr auto microkernel_table(std::index_sequence<R...>) {
  constexpr std::size_t vectors = MicroTile<T>::nr / Simd<T>::width;
  return std::array{microkernels_with_rows<T, R + 1>(std::make_index_sequence<vectors>{})...};
}

}  // namespace detail

/// The micro-kernel that computes a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
MicroKernel<T> microkernel_for(std::size_t rows, std::size_t cols) {
  static constexpr auto table = detail::microkernel_table<T>(std::make_index_sequence<MicroTile<T>::mr>{});
  return table[rows - 1][(cols + Simd<T>::width - 1) / Simd<T>::width - 1];
}

#else

/// Portable micro-kernel: the same contract as the vector one, in plain loops, with B's k-th row
/// at `b_row(k)`. Edge blocks are computed as whole MR x NR tiles and only `rows` x `cols` of
/// them stored.
template <typename T, typename RowOfB>
void portable_microkernel(std::size_t kc, const T* a_panel, RowOfB b_row, T alpha, T beta, T* c,
                          std::size_t ldc, std::size_t rows, std::size_t cols) {
  constexpr std::size_t MR = MicroTile<T>::mr, NR = MicroTile<T>::nr;
  T sum[MR][NR] = {};
  for (std::size_t k = 0; k < kc; ++k) {
    const T* b_panel = b_row(k);
    for (std::size_t i = 0; i < MR; ++i)
      for (std::size_t j = 0; j < NR; ++j) sum[i][j] += a_panel[i] * b_panel[j];
    a_panel += MR;
  }
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * sum[i][j] : alpha * sum[i][j] + beta * cij;
    }
}

/// The portable micro-kernel with B's rows `ldb` apart.
template <typename T>
void gemm_microkernel(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha, T beta,
                      T* c, std::size_t ldc, std::size_t rows, std::size_t cols) {
  portable_microkernel(
      kc, a_panel, [&](std::size_t k) { return b_panel + k * ldb; }, alpha, beta, c, ldc, rows, cols);
}

/// The portable implicit-GEMM micro-kernel: B's k-th row at b + row_offset[k].
template <typename T, std::size_t Rows>
void gemm_microkernel_offsets(std::size_t kc, const T* a_panel, const T* b, const std::ptrdiff_t* row_offset,
                              T alpha, T beta, T* c, std::size_t ldc, std::size_t cols) {
  portable_microkernel(
      kc, a_panel, [&](std::size_t k) { return b + row_offset[k]; }, alpha, beta, c, ldc, Rows, cols);
}

/// The portable A-in-place micro-kernel: A's row i at a_rows[i], B packed.
template <typename T, std::size_t Rows>
void gemm_microkernel_a_rows(std::size_t kc, const T* const* a_rows, const T* b_panel, T beta, T* c,
                             std::size_t ldc, std::size_t cols) {
  constexpr std::size_t NR = MicroTile<T>::nr;
  T sum[Rows][NR] = {};
  for (std::size_t k = 0; k < kc; ++k, b_panel += NR)
    for (std::size_t i = 0; i < Rows; ++i)
      for (std::size_t j = 0; j < NR; ++j) sum[i][j] += a_rows[i][k] * b_panel[j];
  for (std::size_t i = 0; i < Rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) {
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? sum[i][j] : sum[i][j] + beta * cij;
    }
}

/// The A-in-place micro-kernel for a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
ARowsMicroKernel<T> a_rows_microkernel_for(std::size_t rows, std::size_t /*cols*/) {
  static_assert(MicroTile<T>::mr == 4, "one entry per row count");
  static constexpr ARowsMicroKernel<T> table[] = {
      &gemm_microkernel_a_rows<T, 1>, &gemm_microkernel_a_rows<T, 2>, &gemm_microkernel_a_rows<T, 3>,
      &gemm_microkernel_a_rows<T, 4>};
  return table[rows - 1];
}

/// The implicit-GEMM micro-kernel for a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
OffsetMicroKernel<T> offset_microkernel_for(std::size_t rows, std::size_t /*cols*/) {
  static_assert(MicroTile<T>::mr == 4, "one entry per row count");
  static constexpr OffsetMicroKernel<T> table[] = {
      &gemm_microkernel_offsets<T, 1>, &gemm_microkernel_offsets<T, 2>, &gemm_microkernel_offsets<T, 3>,
      &gemm_microkernel_offsets<T, 4>};
  return table[rows - 1];
}

template <typename T, std::size_t Rows>
void gemm_microkernel_rows(std::size_t kc, const T* a_panel, const T* b_panel, std::size_t ldb, T alpha,
                           T beta, T* c, std::size_t ldc, std::size_t cols, const T* /*prefetch*/,
                           std::size_t /*prefetch_ld*/) {
  gemm_microkernel<T>(kc, a_panel, b_panel, ldb, alpha, beta, c, ldc, Rows, cols);
}

/// The micro-kernel that computes a rows x cols block of C (1 <= rows <= MR, 1 <= cols <= NR).
template <typename T>
MicroKernel<T> microkernel_for(std::size_t rows, std::size_t /*cols*/) {
  static_assert(MicroTile<T>::mr == 4, "one entry per row count");
  static constexpr MicroKernel<T> table[] = {&gemm_microkernel_rows<T, 1>, &gemm_microkernel_rows<T, 2>,
                                             &gemm_microkernel_rows<T, 3>, &gemm_microkernel_rows<T, 4>};
  return table[rows - 1];
}

#endif

}  // namespace tinydl::kernels
