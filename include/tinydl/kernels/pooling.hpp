#pragma once
/// @file pooling.hpp
/// Pooling over (N*C) independent planes: max, average and global average.
///
/// Max pooling:
///
///     forward:   y[oh][ow] = max over the window of x[oh*sh - ph + i][ow*sw - pw + j]
///                argmax[oh][ow] = the flat index h*W + w in the plane where that max was found
///                (the first one in row-major order on ties; padding never wins)
///     backward:  dx = 0, then dx[argmax[oh][ow]] += dy[oh][ow]
///
/// Planes are independent, so they are processed in parallel; within a plane, overlapping
/// windows add to dx in a fixed order. The usual 2x2 window with stride 2 and no padding has its
/// own loop: the general one spends most of its time on bounds and padding checks.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__AVX512F__) || defined(__AVX2__)
#include <immintrin.h>
#endif

#include "tinydl/core/parallel.hpp"
#include "tinydl/kernels/window.hpp"

namespace tinydl::kernels {

namespace detail {

/// Whether `v` replaces `best` as a window's maximum: larger, or NaN over a number (as in
/// PyTorch); on ties the earlier one stays.
template <typename T>
inline bool replaces(T v, T best) {
  return (v > best) | ((v != v) & (best == best));
}

#if defined(__AVX512F__)
/// Up to 16 windows of one output row at once (`count` of them, 1 to 16): `top` and `bottom`
/// point at the 2 * count input values of each row; `first` is the plane index of top[0]. Same
/// rules as the scalar loop below. Masked loads and stores never touch memory past the row.
inline void maxpool_2x2_16(const float* top, const float* bottom, std::int32_t first, std::int32_t below,
                           float* out, std::int32_t* arg, std::size_t count) {
  const __mmask16 lanes = static_cast<__mmask16>((1u << count) - 1);
  const __mmask16 low = static_cast<__mmask16>(count >= 8 ? 0xFFFF : (1u << (2 * count)) - 1);
  const __mmask16 high = static_cast<__mmask16>(count <= 8 ? 0 : (1u << (2 * count - 16)) - 1);
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
  auto replaces = [](__m512 v, __m512 best) {  // v > best, or v NaN and best not
    return static_cast<__mmask16>(
        _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ) |
        (_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q) & _mm512_cmp_ps_mask(best, best, _CMP_ORD_Q)));
  };
  const __m512 t0 = _mm512_maskz_loadu_ps(low, top), t1 = _mm512_maskz_loadu_ps(high, top + 16);
  const __m512 b0 = _mm512_maskz_loadu_ps(low, bottom), b1 = _mm512_maskz_loadu_ps(high, bottom + 16);
  const __m512 tl = _mm512_permutex2var_ps(t0, evens, t1), tr = _mm512_permutex2var_ps(t0, odds, t1);
  const __m512 bl = _mm512_permutex2var_ps(b0, evens, b1), br = _mm512_permutex2var_ps(b0, odds, b1);
  const __mmask16 right_top = replaces(tr, tl), right_bottom = replaces(br, bl);
  const __m512 best_top = _mm512_mask_blend_ps(right_top, tl, tr);
  const __m512 best_bottom = _mm512_mask_blend_ps(right_bottom, bl, br);
  const __mmask16 from_bottom = replaces(best_bottom, best_top);
  _mm512_mask_storeu_ps(out, lanes, _mm512_mask_blend_ps(from_bottom, best_top, best_bottom));
  const __m512i one = _mm512_set1_epi32(1);
  __m512i index = _mm512_add_epi32(_mm512_set1_epi32(first), evens);
  const __mmask16 right = static_cast<__mmask16>((from_bottom & right_bottom) | (~from_bottom & right_top));
  index = _mm512_mask_add_epi32(index, right, index, one);
  index = _mm512_mask_add_epi32(index, from_bottom, index, _mm512_set1_epi32(below));
  _mm512_mask_storeu_epi32(arg, lanes, index);
}
#elif defined(__AVX2__)
/// The AVX2 form of the above: up to 8 windows (`count`, 1 to 8). Without AVX-512's two-register
/// permute, the even and odd columns of 16 values come from two in-lane shuffles and a swap of
/// the middle 64-bit quarters. (The scalar loop, all it had before, spent 27 cycles per window on
/// a Zen 2 core, mostly on mispredicted branches: 3 ms of basic_cnn's 21 ms training step.)
inline void maxpool_2x2_8(const float* top, const float* bottom, std::int32_t first, std::int32_t below,
                          float* out, std::int32_t* arg, std::size_t count) {
  const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const auto first_lanes = [&](std::size_t k) {  // lanes 0 .. k-1 set (k may exceed 8)
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<std::int32_t>(std::min<std::size_t>(k, 8))),
                              iota);
  };
  const __m256i lanes = first_lanes(count), low = first_lanes(2 * count);
  const __m256i high = first_lanes(count > 4 ? 2 * count - 8 : 0);
  const auto replaces = [](__m256 v, __m256 best) {  // v > best, or v NaN and best not
    return _mm256_or_ps(
        _mm256_cmp_ps(v, best, _CMP_GT_OQ),
        _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(best, best, _CMP_ORD_Q)));
  };
  const auto columns = [&](const float* row, __m256& even, __m256& odd) {
    const __m256 a = _mm256_maskload_ps(row, low), b = _mm256_maskload_ps(row + 8, high);
    // shuffle_ps works within 128-bit lanes: a0 a2 b0 b2 | a4 a6 b4 b6, then quarters 0 2 1 3
    even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
    odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
  };
  __m256 tl, tr, bl, br;
  columns(top, tl, tr);
  columns(bottom, bl, br);
  const __m256 right_top = replaces(tr, tl), right_bottom = replaces(br, bl);
  const __m256 best_top = _mm256_blendv_ps(tl, tr, right_top);
  const __m256 best_bottom = _mm256_blendv_ps(bl, br, right_bottom);
  const __m256 from_bottom = replaces(best_bottom, best_top);
  _mm256_maskstore_ps(out, lanes, _mm256_blendv_ps(best_top, best_bottom, from_bottom));
  const __m256i right = _mm256_castps_si256(_mm256_blendv_ps(right_top, right_bottom, from_bottom));
  __m256i index = _mm256_add_epi32(_mm256_set1_epi32(first), _mm256_add_epi32(iota, iota));
  index = _mm256_add_epi32(index, _mm256_and_si256(right, _mm256_set1_epi32(1)));
  index =
      _mm256_add_epi32(index, _mm256_and_si256(_mm256_castps_si256(from_bottom), _mm256_set1_epi32(below)));
  _mm256_maskstore_epi32(arg, lanes, index);
}
#endif

/// One plane of 2x2, stride 2, unpadded max pooling (a last odd row or column is dropped).
/// Each window's row-major order decides ties, so the pairs within each row are compared first
/// (left wins ties), then the two rows' winners (top wins ties).
template <typename T>
void maxpool_2x2_plane(std::size_t in_h, std::size_t in_w, const T* plane, T* out, std::int32_t* arg) {
  const std::size_t oh_n = in_h / 2, ow_n = in_w / 2;
  for (std::size_t oh = 0; oh < oh_n; ++oh) {
    const T* top = plane + 2 * oh * in_w;
    const T* bottom = top + in_w;
    T* out_row = out + oh * ow_n;
    std::int32_t* arg_row = arg + oh * ow_n;
    const std::int32_t first = static_cast<std::int32_t>(2 * oh * in_w),
                       below = static_cast<std::int32_t>(in_w);
    std::size_t ow = 0;
#if defined(__AVX512F__)
    if constexpr (std::is_same_v<T, float>)
      for (; ow < ow_n; ow += 16)
        maxpool_2x2_16(top + 2 * ow, bottom + 2 * ow, first + static_cast<std::int32_t>(2 * ow), below,
                       out_row + ow, arg_row + ow, std::min<std::size_t>(16, ow_n - ow));
#elif defined(__AVX2__)
    if constexpr (std::is_same_v<T, float>)
      for (; ow < ow_n; ow += 8)
        maxpool_2x2_8(top + 2 * ow, bottom + 2 * ow, first + static_cast<std::int32_t>(2 * ow), below,
                      out_row + ow, arg_row + ow, std::min<std::size_t>(8, ow_n - ow));
#endif
    for (; ow < ow_n; ++ow) {
      const T tl = top[2 * ow], tr = top[2 * ow + 1], bl = bottom[2 * ow], br = bottom[2 * ow + 1];
      const bool right_top = replaces(tr, tl), right_bottom = replaces(br, bl);
      const T best_top = right_top ? tr : tl, best_bottom = right_bottom ? br : bl;
      const bool from_bottom = replaces(best_bottom, best_top);
      out_row[ow] = from_bottom ? best_bottom : best_top;
      const std::int32_t column =
          static_cast<std::int32_t>(2 * ow) + (from_bottom ? right_bottom : right_top);
      arg_row[ow] = first + column + (from_bottom ? below : 0);
    }
  }
}

}  // namespace detail

/// Max pooling of one plane of g.in_h x g.in_w (g.channels is ignored): `out` gets out_h x out_w
/// values, `arg` the winning input index of each. No threads: for callers already inside a
/// parallel loop (a convolution pooling its output while it is in cache).
template <typename T>
void maxpool_plane(const Window2d& g, const T* plane, T* out, std::int32_t* arg) {
  const std::size_t oh_n = g.out_h(), ow_n = g.out_w();
  if (g.kernel_h == 2 && g.kernel_w == 2 && g.stride_h == 2 && g.stride_w == 2 && g.pad_h == 0 &&
      g.pad_w == 0) {
    detail::maxpool_2x2_plane(g.in_h, g.in_w, plane, out, arg);
    return;
  }
  for (std::size_t oh = 0; oh < oh_n; ++oh) {
    const Window2d::Span rows = g.rows_inside(oh);
    for (std::size_t ow = 0; ow < ow_n; ++ow) {
      const Window2d::Span cols = g.cols_inside(ow);
      T best = -std::numeric_limits<T>::infinity();
      std::size_t best_index = 0;
      bool found = false;
      for (std::size_t h = rows.begin; h < rows.end; ++h) {
        for (std::size_t w = cols.begin; w < cols.end; ++w) {
          const std::size_t index = h * g.in_w + w;
          const T v = plane[index];
          if (!found || v > best || (v != v && best == best)) {  // NaN wins, as in PyTorch
            best = v;
            best_index = index;
            found = true;
          }
        }
      }
      out[oh * ow_n + ow] = best;
      arg[oh * ow_n + ow] = static_cast<std::int32_t>(best_index);
    }
  }
}

/// Max pooling forward of `planes` planes of in_h x in_w (g.channels is ignored; pass the plane
/// count): y gets out_h x out_w per plane, argmax the winning input index for backward.
template <typename T>
void maxpool_forward(const Window2d& g, std::size_t planes, const T* x, T* y, std::int32_t* argmax) {
  const std::size_t in_size = g.in_h * g.in_w, out_size = g.out_pixels();
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const std::size_t offset = static_cast<std::size_t>(p);
    maxpool_plane(g, x + offset * in_size, y + offset * out_size, argmax + offset * out_size);
  }
}

/// Max pooling backward: dx = 0, then dx[argmax] += dy for every output of every plane. Given the
/// forward's output `y` (after a ReLU whose output x was), each dx[argmax] is then multiplied by
/// the ReLU's derivative there, (y > 0 ? 1 : 0): what the ReLU's backward would do to all of dx
/// (elsewhere dx is 0 either way), after all the sums, as that backward runs after them.
template <typename T>
void maxpool_backward(const Window2d& g, std::size_t planes, const T* dy, const std::int32_t* argmax, T* dx,
                      const T* relu_y = nullptr) {
  const std::size_t in_size = g.in_h * g.in_w, out_size = g.out_pixels();
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const std::size_t offset = static_cast<std::size_t>(p);
    T* plane = dx + offset * in_size;
    const T* grad = dy + offset * out_size;
    const std::int32_t* arg = argmax + offset * out_size;
    std::fill(plane, plane + in_size, T(0));
    for (std::size_t o = 0; o < out_size; ++o) plane[arg[o]] += grad[o];
    if (!relu_y) continue;
    // A position that wins two overlapping windows is multiplied twice, by the same 0 or 1: the
    // same bits as once.
    const T* y = relu_y + offset * out_size;
    for (std::size_t o = 0; o < out_size; ++o) plane[arg[o]] *= y[o] > T(0) ? T(1) : T(0);
  }
}

/// Average pooling: y[oh][ow] = (sum of the window's values inside the plane) / divisor, with
/// divisor = kernel_h * kernel_w when `count_padding` (PyTorch's count_include_pad, its default:
/// padding counts as zeros) or else the number of values inside. Backward: each dy / divisor is
/// added to every value of its window inside the plane (fixed order: thread-independent).
template <typename T>
void avgpool_forward(const Window2d& g, std::size_t planes, const T* x, T* y, bool count_padding) {
  const std::size_t in_size = g.in_h * g.in_w, oh_n = g.out_h(), ow_n = g.out_w(), out_size = oh_n * ow_n;
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const T* plane = x + static_cast<std::size_t>(p) * in_size;
    T* out = y + static_cast<std::size_t>(p) * out_size;
    for (std::size_t oh = 0; oh < oh_n; ++oh)
      for (std::size_t ow = 0; ow < ow_n; ++ow) {
        const Window2d::Span rows = g.rows_inside(oh), cols = g.cols_inside(ow);
        T sum = T(0);
        for (std::size_t h = rows.begin; h < rows.end; ++h)
          for (std::size_t w = cols.begin; w < cols.end; ++w) sum += plane[h * g.in_w + w];
        const std::size_t inside = (rows.end - rows.begin) * (cols.end - cols.begin);
        out[oh * ow_n + ow] = sum / static_cast<T>(count_padding ? g.kernel_h * g.kernel_w : inside);
      }
  }
}

/// The backward pass of `avgpool_forward`: dx = 0, then every window spreads dy / divisor.
template <typename T>
void avgpool_backward(const Window2d& g, std::size_t planes, const T* dy, T* dx, bool count_padding) {
  const std::size_t in_size = g.in_h * g.in_w, oh_n = g.out_h(), ow_n = g.out_w(), out_size = oh_n * ow_n;
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    T* plane = dx + static_cast<std::size_t>(p) * in_size;
    const T* grad = dy + static_cast<std::size_t>(p) * out_size;
    std::fill(plane, plane + in_size, T(0));
    for (std::size_t oh = 0; oh < oh_n; ++oh)
      for (std::size_t ow = 0; ow < ow_n; ++ow) {
        const Window2d::Span rows = g.rows_inside(oh), cols = g.cols_inside(ow);
        const std::size_t inside = (rows.end - rows.begin) * (cols.end - cols.begin);
        if (inside == 0) continue;
        const T share =
            grad[oh * ow_n + ow] / static_cast<T>(count_padding ? g.kernel_h * g.kernel_w : inside);
        for (std::size_t h = rows.begin; h < rows.end; ++h)
          for (std::size_t w = cols.begin; w < cols.end; ++w) plane[h * g.in_w + w] += share;
      }
  }
}

/// Global average pooling: y[p] = mean of plane p's `size` values, summed in the fixed order of
/// 8 lanes (value i to lane i mod 8), then the lanes in order.
template <typename T>
void global_avgpool_forward(std::size_t planes, std::size_t size, const T* x, T* y) {
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * size > 65536 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const T* plane = x + static_cast<std::size_t>(p) * size;
    T lanes[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= size; i += 8)
      for (std::size_t l = 0; l < 8; ++l) lanes[l] += plane[i + l];
    for (std::size_t l = 0; i + l < size; ++l) lanes[l] += plane[i + l];
    T sum = T(0);
    for (const T lane : lanes) sum += lane;
    y[p] = sum / static_cast<T>(size);
  }
}

/// Its backward: every value of plane p gets dy[p] / size.
template <typename T>
void global_avgpool_backward(std::size_t planes, std::size_t size, const T* dy, T* dx) {
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * size > 65536 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const T share = dy[p] / static_cast<T>(size);
    std::fill(dx + static_cast<std::size_t>(p) * size, dx + static_cast<std::size_t>(p + 1) * size, share);
  }
}

}  // namespace tinydl::kernels
