#pragma once
/// @file gemm_pack.hpp
/// Packing for the GEMM: copies a block of op(A) or op(B) into the order in which the
/// micro-kernel reads it, so the k loop walks memory contiguously and edges are zero-padded
/// (the micro-kernel never needs to know it is on an edge).
///
/// op(A) is m x k, op(B) is k x n; "transposed" says the matrix is stored as its transpose:
///   op(A)(i, k) = trans ? a[k * lda + i] : a[i * lda + k]
///   op(B)(k, j) = trans ? b[j * ldb + k] : b[k * ldb + j]

#include <algorithm>
#include <cstddef>

namespace tinydl::kernels {

/// Packs op(A) rows [0, m) x depth [0, kc) into ceil(m / MR) micro-panels. Panel p holds, for
/// each k, the MR values op(A)(p * MR + r, k) for r < MR, zero past row m.
template <std::size_t MR, typename T>
void pack_a_block(bool transposed, std::size_t m, std::size_t kc, const T* a, std::size_t lda, T* packed) {
  for (std::size_t i0 = 0; i0 < m; i0 += MR) {
    const std::size_t rows = std::min(MR, m - i0);
    if (transposed) {  // each k is a contiguous run of rows
      for (std::size_t k = 0; k < kc; ++k) {
        const T* src = a + k * lda + i0;
        for (std::size_t r = 0; r < rows; ++r) packed[r] = src[r];
        for (std::size_t r = rows; r < MR; ++r) packed[r] = T(0);
        packed += MR;
      }
    } else {  // gather MR rows, one k at a time
      for (std::size_t k = 0; k < kc; ++k) {
        for (std::size_t r = 0; r < rows; ++r) packed[r] = a[(i0 + r) * lda + k];
        for (std::size_t r = rows; r < MR; ++r) packed[r] = T(0);
        packed += MR;
      }
    }
  }
}

/// Packs op(B) depth [0, kc) x columns [0, n) into ceil(n / NR) micro-panels. Panel p holds, for
/// each k, the NR values op(B)(k, p * NR + c) for c < NR, zero past column n.
template <std::size_t NR, typename T>
void pack_b_panel(bool transposed, std::size_t kc, std::size_t n, const T* b, std::size_t ldb, T* packed) {
  for (std::size_t j0 = 0; j0 < n; j0 += NR) {
    const std::size_t cols = std::min(NR, n - j0);
    if (!transposed) {  // each k is a contiguous run of columns
      for (std::size_t k = 0; k < kc; ++k) {
        const T* src = b + k * ldb + j0;
        std::copy(src, src + cols, packed);
        std::fill(packed + cols, packed + NR, T(0));
        packed += NR;
      }
    } else {  // B is stored n x k: a transpose, done in slices of `depth` k so that the slice
              // being written (depth x NR values) stays in L1 while the stored rows are walked
      constexpr std::size_t depth = 16;
      for (std::size_t k0 = 0; k0 < kc; k0 += depth) {
        const std::size_t k1 = std::min(kc, k0 + depth);
        for (std::size_t c = 0; c < cols; ++c) {
          const T* src = b + (j0 + c) * ldb;
          for (std::size_t k = k0; k < k1; ++k) packed[k * NR + c] = src[k];
        }
        for (std::size_t c = cols; c < NR; ++c)
          for (std::size_t k = k0; k < k1; ++k) packed[k * NR + c] = T(0);
      }
      packed += kc * NR;
    }
  }
}

}  // namespace tinydl::kernels
