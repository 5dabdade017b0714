#pragma once
/// @file gemm_dot.hpp
/// The product C = alpha * A * B^T + beta * C with few columns (op(B) = B^T has n < 16 columns)
/// and a long k, both operands stored with k contiguous, as blocked dot products:
///
///     C[i][j] = alpha * sum_p A[i][p] * B[j][p]  +  beta * C[i][j]
///
/// A first conv layer's weight gradient is this shape (32 filters x 9 kernel taps, k = the
/// pixels of a batch): the blocked GEMM would compute a 48-column tile for 9 useful columns and
/// transpose B element by element, at a tenth of the machine's speed.
///
/// Each dot product is summed in `width` lanes (element p goes to lane p mod width) and the
/// lanes added in order at the end. k is walked in chunks of `dot_chunk` so that the chunk of
/// every row of A and B stays in L2 while all RA x RB register blocks of (row of A, row of B)
/// use it; the blocks' lane sums are kept in a scratch buffer between chunks. The chunks, lanes
/// and order do not depend on the thread split, so neither does the result.

#include <algorithm>
#include <cstddef>

#include "tinydl/kernels/simd.hpp"

namespace tinydl::kernels {

/// Products with fewer columns than this, and at least `dot_min_depth` terms per dot product,
/// take the dot-product path (when A and B^T are stored with k contiguous).
inline constexpr std::size_t dot_max_columns = 16;
inline constexpr std::size_t dot_min_depth = 256;

namespace detail {

/// k values per chunk: 32 rows of A and 16 of B take 48 x 4 KiB = 192 KiB of L2 for float.
inline constexpr std::size_t dot_chunk = 1024;

/// Register block: 4 rows of A times 4 rows of B, 16 accumulators, 8 loads per 16 FMAs.
inline constexpr std::size_t dot_rows_a = 4, dot_rows_b = 4;

}  // namespace detail

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))

/// Values of scratch that gemm_dot_products needs for m rows and n columns.
template <typename T>
constexpr std::size_t dot_lanes_size(std::size_t m, std::size_t n) {
  constexpr std::size_t RA = detail::dot_rows_a, RB = detail::dot_rows_b;
  return (m + RA - 1) / RA * ((n + RB - 1) / RB) * RA * RB * Simd<T>::width;
}

namespace detail {

/// lanes[r * RB + s] += the sum over `len` values (a multiple of the width) of A row r times B row
/// s, lane by lane, for RA rows of A (`lda` apart) and RB rows of B (`ldb` apart).
template <typename T, std::size_t RA, std::size_t RB>
void dot_block(std::size_t len, const T* a, std::size_t lda, const T* b, std::size_t ldb, T* lanes) {
  using V = Simd<T>;
  using Reg = typename V::Reg;
  constexpr std::size_t W = V::width;
  Reg sum[RA][RB];
  for (std::size_t r = 0; r < RA; ++r)
    for (std::size_t s = 0; s < RB; ++s) sum[r][s] = V::load(lanes + (r * RB + s) * W);
  for (std::size_t p = 0; p < len; p += W) {
    Reg bv[RB];
    for (std::size_t s = 0; s < RB; ++s) bv[s] = V::load(b + s * ldb + p);
    for (std::size_t r = 0; r < RA; ++r) {
      const Reg av = V::load(a + r * lda + p);
      for (std::size_t s = 0; s < RB; ++s) sum[r][s] = V::fmadd(av, bv[s], sum[r][s]);
    }
  }
  for (std::size_t r = 0; r < RA; ++r)
    for (std::size_t s = 0; s < RB; ++s) V::store(lanes + (r * RB + s) * W, sum[r][s]);
}

/// dot_block for ra x rb with 1 <= ra, rb <= 4 (the last rows of A or B are fewer).
template <typename T>
void dot_block_any(std::size_t ra, std::size_t rb, std::size_t len, const T* a, std::size_t lda, const T* b,
                   std::size_t ldb, T* lanes) {
  static_assert(dot_rows_a == 4 && dot_rows_b == 4, "one case per block size");
  using Kernel = void (*)(std::size_t, const T*, std::size_t, const T*, std::size_t, T*);
  static constexpr Kernel table[4][4] = {
      {&dot_block<T, 1, 1>, &dot_block<T, 1, 2>, &dot_block<T, 1, 3>, &dot_block<T, 1, 4>},
      {&dot_block<T, 2, 1>, &dot_block<T, 2, 2>, &dot_block<T, 2, 3>, &dot_block<T, 2, 4>},
      {&dot_block<T, 3, 1>, &dot_block<T, 3, 2>, &dot_block<T, 3, 3>, &dot_block<T, 3, 4>},
      {&dot_block<T, 4, 1>, &dot_block<T, 4, 2>, &dot_block<T, 4, 3>, &dot_block<T, 4, 4>}};
  table[ra - 1][rb - 1](len, a, lda, b, ldb, lanes);
}

/// gemm_dot_products for m rows whose lane sums fit `lanes` (dot_lanes_size<T>(m, n) values).
template <typename T>
void dot_products_slab(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                       const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc, T* lanes) {
  constexpr std::size_t W = Simd<T>::width, RA = dot_rows_a, RB = dot_rows_b;
  const std::size_t column_blocks = (n + RB - 1) / RB;
  // The lane sums of block (i0, j0) -- RA x RB dot products, W lanes each -- are contiguous.
  const auto block_lanes = [&](std::size_t i0, std::size_t j0) {
    return lanes + (i0 / RA * column_blocks + j0 / RB) * RA * RB * W;
  };
  std::fill(lanes, lanes + dot_lanes_size<T>(m, n), T(0));

  alignas(64) T a_tail[RA * W], b_tail[RB * W];
  const std::size_t whole = k / W * W;  // k values that fill whole vectors
  for (std::size_t p0 = 0; p0 < k; p0 += dot_chunk) {
    const std::size_t p1 = std::min(k, p0 + dot_chunk);
    const std::size_t len = std::min(p1, whole) - p0;  // chunk starts are multiples of W
    for (std::size_t i0 = 0; i0 < m; i0 += RA) {
      const std::size_t ra = std::min(RA, m - i0);
      for (std::size_t j0 = 0; j0 < n; j0 += RB) {
        const std::size_t rb = std::min(RB, n - j0);
        T* block = block_lanes(i0, j0);
        if (len) dot_block_any(ra, rb, len, a + i0 * lda + p0, lda, b + j0 * ldb + p0, ldb, block);
        if (p1 == k && whole < k) {  // the last k % W values, zero-padded to one vector per row
          std::fill(a_tail, a_tail + RA * W, T(0));
          std::fill(b_tail, b_tail + RB * W, T(0));
          for (std::size_t r = 0; r < ra; ++r)
            std::copy(a + (i0 + r) * lda + whole, a + (i0 + r) * lda + k, a_tail + r * W);
          for (std::size_t s = 0; s < rb; ++s)
            std::copy(b + (j0 + s) * ldb + whole, b + (j0 + s) * ldb + k, b_tail + s * W);
          dot_block_any(ra, rb, W, a_tail, W, b_tail, W, block);
        }
      }
    }
  }
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const std::size_t rb = std::min(RB, n - j / RB * RB);
      const T* l = block_lanes(i, j) + (i % RA * rb + j % RB) * W;
      T sum = T(0);
      for (std::size_t w = 0; w < W; ++w) sum += l[w];
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * sum : alpha * sum + beta * cij;
    }
}

}  // namespace detail

/// C = alpha * A * B^T + beta * C for n < dot_max_columns columns; A is m x k (row stride lda),
/// B is n x k (row stride ldb). `scratch` (`scratch_size` values, at least enough for 4 rows:
/// 256 * width) holds the lane sums; rows are done in slabs that fit it. With beta == 0, C is
/// only written.
template <typename T>
void gemm_dot_products(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                       const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc, T* scratch,
                       std::size_t scratch_size) {
  const std::size_t slab = scratch_size / dot_lanes_size<T>(detail::dot_rows_a, n) * detail::dot_rows_a;
  for (std::size_t i0 = 0; i0 < m; i0 += slab)
    detail::dot_products_slab(std::min(slab, m - i0), n, k, alpha, a + i0 * lda, lda, b, ldb, beta,
                              c + i0 * ldc, ldc, scratch);
}

#else

/// Portable version: each dot product summed in 16 lanes over the whole of k, in plain loops
/// (no scratch needed).
template <typename T>
void gemm_dot_products(std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a, std::size_t lda,
                       const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc, T* /*scratch*/,
                       std::size_t /*scratch_size*/) {
  constexpr std::size_t L = 16;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const T* a_row = a + i * lda;
      const T* b_row = b + j * ldb;
      T lanes[L] = {};
      std::size_t p = 0;
      for (; p + L <= k; p += L)
        for (std::size_t l = 0; l < L; ++l) lanes[l] += a_row[p + l] * b_row[p + l];
      for (std::size_t l = 0; p + l < k; ++l) lanes[l] += a_row[p + l] * b_row[p + l];
      T sum = T(0);
      for (std::size_t l = 0; l < L; ++l) sum += lanes[l];
      T& cij = c[i * ldc + j];
      cij = beta == T(0) ? alpha * sum : alpha * sum + beta * cij;
    }
}

#endif

}  // namespace tinydl::kernels
