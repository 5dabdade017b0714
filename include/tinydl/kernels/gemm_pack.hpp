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
#include <type_traits>

#if defined(__AVX__)
#include <immintrin.h>
#elif defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace tinydl::kernels {

namespace detail {

#if defined(__AVX__)
/// Transposes the 8 x 8 block whose rows start at src[i * ld] into dst[j * ld_dst] (row j of the
/// result is column j of the source; by default 64 contiguous values): pairs of rows
/// interleaved, then pairs of pairs, then 128-bit halves exchanged.
inline void transpose_8x8(const float* src, std::size_t ld, float* dst, std::size_t ld_dst = 8) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * ld);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) and 4-7 (h = 1)
    r[4 * h + 0] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0x44);
    r[4 * h + 1] = _mm256_shuffle_ps(t[4 * h], t[4 * h + 2], 0xEE);
    r[4 * h + 2] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0x44);
    r[4 * h + 3] = _mm256_shuffle_ps(t[4 * h + 1], t[4 * h + 3], 0xEE);
  }
  for (int j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + ld_dst * j, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
    _mm256_storeu_ps(dst + ld_dst * (4 + j), _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
  }
}
#endif

#if defined(__SSE__)
/// Transposes the 4 x 4 block whose rows start at src[i * ld] into 16 contiguous values.
inline void transpose_4x4(const float* src, std::size_t ld, float* dst) {
  __m128 r0 = _mm_loadu_ps(src), r1 = _mm_loadu_ps(src + ld), r2 = _mm_loadu_ps(src + 2 * ld),
         r3 = _mm_loadu_ps(src + 3 * ld);
  _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
  _mm_storeu_ps(dst, r0);
  _mm_storeu_ps(dst + 4, r1);
  _mm_storeu_ps(dst + 8, r2);
  _mm_storeu_ps(dst + 12, r3);
}
#endif

/// Packs `kc` values of MR full rows of a stored-as-is A into MR-value groups per k (a
/// transpose), whole square blocks through registers where the instruction set has them.
template <std::size_t MR, typename T>
void pack_a_rows(std::size_t kc, const T* a, std::size_t lda, T* packed) {
  std::size_t k = 0;
#if defined(__AVX__)
  if constexpr (std::is_same_v<T, float> && MR == 8)
    for (; k + 8 <= kc; k += 8) transpose_8x8(a + k, lda, packed + k * MR);
#endif
#if defined(__SSE__)
  if constexpr (std::is_same_v<T, float> && MR == 4)
    for (; k + 4 <= kc; k += 4) transpose_4x4(a + k, lda, packed + k * MR);
#endif
  for (; k < kc; ++k)
    for (std::size_t r = 0; r < MR; ++r) packed[k * MR + r] = a[r * lda + k];
}

}  // namespace detail

#if defined(__AVX512F__)
namespace detail {

/// Transposes the 16 x 16 block whose rows start at src[i * ld] into dst[j * ld_dst] (row j of
/// the result is column j of the source): unpack pairs of rows, then pairs of pairs, then move
/// 128-bit lanes, the standard three-stage in-register transpose. The zero-masked forms of the
/// intrinsics (all lanes selected) because GCC 12 warns falsely about the plain ones' undefined source.
inline void transpose_16x16(const float* src, std::size_t ld, float* dst, std::size_t ld_dst) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
  for (int i = 0; i < 8; ++i) {  // per 128-bit lane: (a0 b0 a1 b1), (a2 b2 a3 b3)
    t[2 * i] = _mm512_maskz_unpacklo_ps(0xFFFF, r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_maskz_unpackhi_ps(0xFFFF, r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {  // r[4i + j]: lane L holds column 4L + j of rows 4i .. 4i + 3
    const __m512d lo_ab = _mm512_castps_pd(t[4 * i]), hi_ab = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d lo_cd = _mm512_castps_pd(t[4 * i + 2]), hi_cd = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, lo_ab, lo_cd));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, lo_ab, lo_cd));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xFF, hi_ab, hi_cd));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xFF, hi_ab, hi_cd));
  }
  for (int j = 0; j < 4; ++j) {  // gather lane L of the four row groups into column 4L + j
    const __m512 even_low = _mm512_maskz_shuffle_f32x4(0xFFFF, r[j], r[4 + j], 0x88);
    const __m512 odd_low = _mm512_maskz_shuffle_f32x4(0xFFFF, r[j], r[4 + j], 0xdd);
    const __m512 even_high = _mm512_maskz_shuffle_f32x4(0xFFFF, r[8 + j], r[12 + j], 0x88);
    const __m512 odd_high = _mm512_maskz_shuffle_f32x4(0xFFFF, r[8 + j], r[12 + j], 0xdd);
    _mm512_storeu_ps(dst + (0 + j) * ld_dst, _mm512_maskz_shuffle_f32x4(0xFFFF, even_low, even_high, 0x88));
    _mm512_storeu_ps(dst + (8 + j) * ld_dst, _mm512_maskz_shuffle_f32x4(0xFFFF, even_low, even_high, 0xdd));
    _mm512_storeu_ps(dst + (4 + j) * ld_dst, _mm512_maskz_shuffle_f32x4(0xFFFF, odd_low, odd_high, 0x88));
    _mm512_storeu_ps(dst + (12 + j) * ld_dst, _mm512_maskz_shuffle_f32x4(0xFFFF, odd_low, odd_high, 0xdd));
  }
}

}  // namespace detail
#endif

/// Packs op(A) rows [0, m) x depth [0, kc) into ceil(m / MR) micro-panels. Panel p holds, for
/// each k, the MR values op(A)(p * MR + r, k) for r < MR, zero past row m.
template <std::size_t MR, typename T>
void pack_a_block(bool transposed, std::size_t m, std::size_t kc, const T* a, std::size_t lda, T* packed) {
  for (std::size_t i0 = 0; i0 < m; i0 += MR) {
    const std::size_t rows = std::min(MR, m - i0);
    if (transposed && rows == MR) {  // each k is a contiguous run of rows: a fixed-size copy
      for (std::size_t k = 0; k < kc; ++k, packed += MR)
        for (std::size_t r = 0; r < MR; ++r) packed[r] = a[k * lda + i0 + r];
    } else if (transposed) {
      for (std::size_t k = 0; k < kc; ++k) {
        const T* src = a + k * lda + i0;
        for (std::size_t r = 0; r < rows; ++r) packed[r] = src[r];
        for (std::size_t r = rows; r < MR; ++r) packed[r] = T(0);
        packed += MR;
      }
    } else if (rows == MR) {  // a transpose of MR rows
      detail::pack_a_rows<MR>(kc, a + i0 * lda, lda, packed);
      packed += kc * MR;
    } else {  // gather the last rows, one k at a time
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
    if (!transposed) {   // each k is a contiguous run of columns
      if (cols == NR) {  // a fixed-size copy the compiler turns into NR / width vector moves
        for (std::size_t k = 0; k < kc; ++k, packed += NR)
          for (std::size_t c = 0; c < NR; ++c) packed[c] = b[k * ldb + j0 + c];
        continue;
      }
      for (std::size_t k = 0; k < kc; ++k) {
        const T* src = b + k * ldb + j0;
        std::copy(src, src + cols, packed);
        std::fill(packed + cols, packed + NR, T(0));
        packed += NR;
      }
    } else {  // B is stored n x k: a transpose, done in slices of `depth` k so that the slice
              // being written (depth x NR values) stays in L1 while the stored rows are walked
      constexpr std::size_t depth = 16;
      std::size_t start = 0;
#if defined(__AVX512F__)
      if constexpr (std::is_same_v<T, float> && NR % 16 == 0)
        if (cols == NR)  // whole 16 x 16 blocks through registers; the ragged rest below
          for (; start + depth <= kc; start += depth)
            for (std::size_t c0 = 0; c0 < NR; c0 += 16) {
              // The NR stored rows are NR streams through memory, more than the hardware
              // prefetchers follow when B does not fit the caches: ask for each row 4 blocks ahead
              // (measured better than asking for the next panel's rows).
              for (std::size_t r = 0; r < 16; ++r)
                __builtin_prefetch(b + (j0 + c0 + r) * ldb + start + 4 * depth, 0, 3);
              detail::transpose_16x16(b + (j0 + c0) * ldb + start, ldb, packed + start * NR + c0, NR);
            }
#elif defined(__AVX__)
      if constexpr (std::is_same_v<T, float> && NR % 8 == 0)
        if (cols == NR)  // the same with 8 x 8 blocks (scalar, this was 5.6% of a deeper_cnn
                         // training step on a Zen 2 core: its weight gradients' col^T)
          for (; start + depth <= kc; start += depth)
            for (std::size_t c0 = 0; c0 < NR; c0 += 8) {
              for (std::size_t r = 0; r < 8; ++r)
                __builtin_prefetch(b + (j0 + c0 + r) * ldb + start + 4 * depth, 0, 3);
              for (std::size_t k = start; k < start + depth; k += 8)
                detail::transpose_8x8(b + (j0 + c0) * ldb + k, ldb, packed + k * NR + c0, NR);
            }
#endif
      for (std::size_t k0 = start; k0 < kc; k0 += depth) {
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
