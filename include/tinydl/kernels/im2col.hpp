#pragma once
/// @file im2col.hpp
/// im2col and col2im: turn a convolution into a matrix product.
///
/// For one image x of shape (C, H, W) and a window of kh x kw, stride (sh, sw), padding (ph, pw),
/// the column matrix has C*kh*kw rows and OH*OW columns:
///
///     col[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh - ph + i][ow*sw - pw + j]   (0 outside x)
///
/// so a convolution is  y[Cout][OH*OW] = weight[Cout][C*kh*kw] * col,  and its input gradient is
/// dx = col2im(weight^T * dy), where col2im adds each column entry back onto the pixel it came
/// from (pixels under several windows receive several contributions).
///
/// Both take a leading dimension `ld_col` (the stride between rows of col), so the columns of a
/// whole mini-batch can sit side by side in one matrix (image b at column offset b*OH*OW,
/// ld_col = batch*OH*OW) and the batch becomes one GEMM.

#include <algorithm>
#include <cstddef>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "tinydl/kernels/window.hpp"

namespace tinydl::kernels {

namespace detail {

/// The range [first, last) of output columns ow whose input column ow*stride - pad + offset lies in
/// [0, in): the rest read the zero padding.
inline void valid_output_range(std::size_t out, std::size_t in, std::size_t stride, std::size_t pad,
                               std::size_t offset, std::size_t& first, std::size_t& last) {
  // need pad - offset <= ow*stride  and  ow*stride <= in - 1 + pad - offset
  first = pad > offset ? (pad - offset + stride - 1) / stride : 0;
  const std::size_t upper = in + pad;  // ow*stride + offset < in + pad
  last = upper > offset ? std::min(out, (upper - offset - 1) / stride + 1) : 0;
  first = std::min(first, last);
}

/// For `rows` runs of `n` values, run r from src + r * src_step to dst + r * dst_step:
/// dst = src (Accumulate = false: im2col, an image window's rows into a row of the column matrix)
/// or dst += src (true: col2im). The runs are an image row's width, tens of values, where a call
/// to memmove costs more than the copy. AVX-512: whole vectors, then one masked vector whose
/// mask is computed once for all rows.
template <bool Accumulate, typename T>
inline void transfer_runs(const T* src, std::size_t src_step, std::size_t rows, std::size_t n, T* dst,
                          std::size_t dst_step) {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    const std::size_t whole = n / 16 * 16;
    const __mmask16 rest = static_cast<__mmask16>((1u << (n - whole)) - 1);
    const auto vector = [](const float* from, float* to, __mmask16 lanes) {
      __m512 v = _mm512_maskz_loadu_ps(lanes, from);
      if constexpr (Accumulate) v = _mm512_maskz_add_ps(lanes, v, _mm512_maskz_loadu_ps(lanes, to));
      _mm512_mask_storeu_ps(to, lanes, v);
    };
    for (std::size_t r = 0; r < rows; ++r, src += src_step, dst += dst_step) {
      for (std::size_t k = 0; k < whole; k += 16) vector(src + k, dst + k, 0xFFFF);
      if (rest) vector(src + whole, dst + whole, rest);
    }
    return;
  }
#endif
  for (std::size_t r = 0; r < rows; ++r, src += src_step, dst += dst_step)
    for (std::size_t k = 0; k < n; ++k) dst[k] = Accumulate ? dst[k] + src[k] : src[k];
}

}  // namespace detail

/// Calls visit(row, plane, i, j, oh_first, oh_last, ow_first, ow_last) for every row of an image's
/// column matrix: row = (c*kh + i)*kw + j, plane = c*H*W (offset of channel c in the image), and
/// [oh_first, oh_last) x [ow_first, ow_last) the outputs whose input pixel for window position
/// (i, j) is inside the image rather than in the padding.
template <typename Visit>
void for_each_patch_row(const Window2d& g, Visit&& visit) {
  // The valid ranges depend only on (i, j), not on the channel: computed once per call (their
  // divisions cost more than a small image's copies when redone per row).
  constexpr std::size_t max_kernel = 16;
  std::size_t oh_range[max_kernel][2], ow_range[max_kernel][2];
  const bool cached = g.kernel_h <= max_kernel && g.kernel_w <= max_kernel;
  if (cached) {
    for (std::size_t i = 0; i < g.kernel_h; ++i)
      detail::valid_output_range(g.out_h(), g.in_h, g.stride_h, g.pad_h, i, oh_range[i][0], oh_range[i][1]);
    for (std::size_t j = 0; j < g.kernel_w; ++j)
      detail::valid_output_range(g.out_w(), g.in_w, g.stride_w, g.pad_w, j, ow_range[j][0], ow_range[j][1]);
  }
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t i = 0; i < g.kernel_h; ++i) {
      std::size_t oh_first, oh_last;
      if (cached)
        oh_first = oh_range[i][0], oh_last = oh_range[i][1];
      else
        detail::valid_output_range(g.out_h(), g.in_h, g.stride_h, g.pad_h, i, oh_first, oh_last);
      for (std::size_t j = 0; j < g.kernel_w; ++j) {
        std::size_t ow_first, ow_last;
        if (cached)
          ow_first = ow_range[j][0], ow_last = ow_range[j][1];
        else
          detail::valid_output_range(g.out_w(), g.in_w, g.stride_w, g.pad_w, j, ow_first, ow_last);
        visit((c * g.kernel_h + i) * g.kernel_w + j, c * g.in_h * g.in_w, i, j, oh_first, oh_last, ow_first,
              ow_last);
      }
    }
}

/// Writes the column matrix of one image `x` (C, H, W) into `col` (rows of stride `ld_col`).
template <typename T>
void im2col(const Window2d& g, const T* x, T* col, std::size_t ld_col) {
  const std::size_t oh_n = g.out_h(), ow_n = g.out_w();
  for_each_patch_row(
      g, [&](std::size_t r, std::size_t plane, std::size_t i, std::size_t j, std::size_t oh_first,
             std::size_t oh_last, std::size_t ow_first, std::size_t ow_last) {
        T* row = col + r * ld_col;
        // Output rows whose input row is padding are zeros; in the others, the columns that read the
        // padding (a pixel or two at each end) are zeros and the rest is copied.
        std::fill(row, row + oh_first * ow_n, T(0));
        std::fill(row + oh_last * ow_n, row + oh_n * ow_n, T(0));
        if (oh_first == oh_last) return;
        for (std::size_t oh = oh_first; oh < oh_last; ++oh) {
          std::fill(row + oh * ow_n, row + oh * ow_n + ow_first, T(0));
          std::fill(row + oh * ow_n + ow_last, row + (oh + 1) * ow_n, T(0));
        }
        if (ow_first == ow_last) return;
        const T* in = x + plane + (oh_first * g.stride_h + i - g.pad_h) * g.in_w;  // input row of oh_first
        T* out = row + oh_first * ow_n;
        if (g.stride_w == 1) {
          detail::transfer_runs<false>(in + ow_first + j - g.pad_w, g.stride_h * g.in_w, oh_last - oh_first,
                                       ow_last - ow_first, out + ow_first, ow_n);
        } else {
          for (std::size_t oh = oh_first; oh < oh_last; ++oh, in += g.stride_h * g.in_w, out += ow_n)
            for (std::size_t ow = ow_first; ow < ow_last; ++ow) out[ow] = in[ow * g.stride_w + j - g.pad_w];
        }
      });
}

/// Adds the column matrix `col` of one image back onto `dx` (C, H, W): the adjoint of im2col.
/// `dx` is accumulated into, not overwritten.
template <typename T>
void col2im(const Window2d& g, const T* col, std::size_t ld_col, T* dx) {
  const std::size_t ow_n = g.out_w();
  for_each_patch_row(
      g, [&](std::size_t r, std::size_t plane, std::size_t i, std::size_t j, std::size_t oh_first,
             std::size_t oh_last, std::size_t ow_first, std::size_t ow_last) {
        if (oh_first == oh_last || ow_first == ow_last) return;  // the window sees only padding
        const T* in = col + r * ld_col + oh_first * ow_n;
        T* out = dx + plane + (oh_first * g.stride_h + i - g.pad_h) * g.in_w;  // input row of oh_first
        if (g.stride_w == 1) {
          detail::transfer_runs<true>(in + ow_first, ow_n, oh_last - oh_first, ow_last - ow_first,
                                      out + ow_first + j - g.pad_w, g.stride_h * g.in_w);
        } else {
          for (std::size_t oh = oh_first; oh < oh_last; ++oh, in += ow_n, out += g.stride_h * g.in_w)
            for (std::size_t ow = ow_first; ow < ow_last; ++ow) out[ow * g.stride_w + j - g.pad_w] += in[ow];
        }
      });
}

}  // namespace tinydl::kernels
