#pragma once
/// @file conv2d_implicit.hpp
/// Stride-1 convolution as an implicit GEMM: the column matrix is never built.
///
/// Lay the images out zero-padded, each row `pad_w` zeros then the `W` pixels (so one run of
/// zeros is both a row's right padding and the next row's left one), `pad_h` zero rows above
/// each image and below the last, the images of a group one below the other, and read the
/// result as one flat array xp per channel. Output pixel (oh, ow) of image i then sits at
/// column q = (i * (H + pad_h) + oh) * (W + pad_w) + ow, and for window tap (c, ki, kj)
///
///     col[(c*kh + ki)*kw + kj][q] = xp[c * plane + ki * (W + pad_w) + kj + q]
///
/// so row r of the column matrix is xp shifted by a fixed offset: the GEMM y = W col reads
/// its B in place through a table of K row offsets (`gemm_microkernel_offsets`). The columns
/// between images and past each row's OW pixels compute values nobody keeps; `compact_images`
/// copies the rest out. Padding the input copies it once (im2col writes it kh*kw times, and
/// the GEMM reads the copies from memory; here the K rows of a column block overlap, and the
/// whole group's padded planes stay in L2).
///
/// Each element of y gets the GEMM's arithmetic: one FMA chain over k = (c, ki, kj) in KC
/// slices, then alpha, beta and the epilogue: the same bits as im2col + `gemm`, for any thread
/// count and any tile or group it falls in.
///
/// The input gradient of a stride-1 convolution is itself one (`transposed_window`): dy padded
/// by (kh - 1 - pad_h, kw - 1 - pad_w) against the kernels flipped and transposed
/// (`flip_kernels`), so this one routine serves the forward pass and dx.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tinydl/core/cache_sizes.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/kernels/window.hpp"

namespace tinydl::kernels {

/// Whether `conv2d_implicit_gemm` serves a window: stride 1 and padding smaller than the kernel
/// (as PyTorch's "same" and "valid"), and not a 1x1 kernel without padding (its column matrix is
/// the image itself already).
inline bool implicit_gemm_fits(const Window2d& g) {
  const bool pointwise = g.kernel_h == 1 && g.kernel_w == 1 && g.pad_h == 0 && g.pad_w == 0;
  return g.stride_h == 1 && g.stride_w == 1 && g.pad_h < g.kernel_h && g.pad_w < g.kernel_w && !pointwise;
}

/// Where a group of images sits in the padded layout (see the file comment).
struct PaddedImages {
  std::size_t row = 0;         ///< W + pad_w: values per padded row
  std::size_t image_rows = 0;  ///< H + pad_h: padded rows per image
  std::size_t images = 0;      ///< images in the group
  std::size_t plane = 0;       ///< values per channel, slack for the last window and a vector included

  PaddedImages() = default;
  /// The layout of `images` images of window g's input.
  PaddedImages(const Window2d& g, std::size_t images_)
      : row(g.in_w + g.pad_w), image_rows(g.in_h + g.pad_h), images(images_) {
    // Leading pad rows, the images, then what the last columns' windows and vectors read
    // (computed, discarded) past the end.
    const std::size_t used = (g.pad_h + images * image_rows + g.kernel_h) * row + g.kernel_w + 64;
    plane = (used + 15) / 16 * 16;       // whole cache lines
    if (plane % 1024 == 0) plane += 16;  // channels a power of two apart share cache sets
  }
  /// Output columns computed for the group (those of `count` images).
  std::size_t columns(std::size_t count) const { return count * image_rows * row; }
  /// The column of output pixel (oh, 0) of image i.
  std::size_t column(std::size_t i, std::size_t oh) const { return (i * image_rows + oh) * row; }
};

/// Writes `count` images x (C, H, W) of window g's input into `xp` (C planes of `p.plane`) in
/// the padded layout, every value of every plane (pads and slack as zeros).
template <typename T>
void pad_images(const Window2d& g, const PaddedImages& p, const T* x, std::size_t count, T* xp) {
  const std::size_t image = g.channels * g.in_h * g.in_w;
  for (std::size_t c = 0; c < g.channels; ++c) {
    T* out = xp + c * p.plane;
    T* const end = out + p.plane;
    out = std::fill_n(out, g.pad_h * p.row, T(0));
    for (std::size_t i = 0; i < count; ++i) {
      const T* in = x + i * image + c * g.in_h * g.in_w;
      for (std::size_t h = 0; h < g.in_h; ++h, in += g.in_w) {
        out = std::fill_n(out, g.pad_w, T(0));
        out = std::copy(in, in + g.in_w, out);
      }
      out = std::fill_n(out, g.pad_h * p.row, T(0));
    }
    std::fill(out, end, T(0));
  }
}

/// The offsets of the K = C*kh*kw rows of the column matrix in the padded layout `p`.
inline void column_row_offsets(const Window2d& g, const PaddedImages& p, std::ptrdiff_t* offsets) {
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t i = 0; i < g.kernel_h; ++i)
      for (std::size_t j = 0; j < g.kernel_w; ++j)
        *offsets++ = static_cast<std::ptrdiff_t>(c * p.plane + i * p.row + j);
}

/// Copies the kept columns of y (filters x columns, row stride `ld`, in the layout `p`) of
/// `count` images out as NCHW planes of out_h x out_w into `images`.
template <typename T>
void compact_images(const PaddedImages& p, std::size_t out_h, std::size_t out_w, std::size_t filters,
                    std::size_t count, const T* y, std::size_t ld, T* images) {
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t f = 0; f < filters; ++f)
      for (std::size_t oh = 0; oh < out_h; ++oh) {
        const T* row = y + f * ld + p.column(i, oh);
        images = std::copy(row, row + out_w, images);
      }
}

/// The window whose stride-1 convolution of dy (filters, out_h, out_w) with `flip_kernels`'s
/// weights is the input gradient of a stride-1 convolution by g:
///     dx[c][h][w] = sum_{f, ki, kj} W[f][c][ki][kj] dy[f][h + pad_h - ki][w + pad_w - kj].
inline Window2d transposed_window(const Window2d& g, std::size_t filters) {
  return Window2d{filters,
                  g.out_h(),
                  g.out_w(),
                  g.kernel_h,
                  g.kernel_w,
                  1,
                  1,
                  g.kernel_h - 1 - g.pad_h,
                  g.kernel_w - 1 - g.pad_w};
}

/// flipped[c][f][kh-1-i][kw-1-j] = weight[f][c][i][j]: the kernels of `transposed_window`.
template <typename T>
void flip_kernels(const Window2d& g, std::size_t filters, const T* weight, T* flipped) {
  const std::size_t taps = g.kernel_h * g.kernel_w;
  for (std::size_t f = 0; f < filters; ++f)
    for (std::size_t c = 0; c < g.channels; ++c)
      for (std::size_t t = 0; t < taps; ++t)
        flipped[(c * filters + f) * taps + (taps - 1 - t)] = weight[(f * g.channels + c) * taps + t];
}

/// Columns of one block of the implicit GEMM: the block's padded planes (its columns plus the
/// window's reach) should take about half of this core's L2, beside A and C.
template <typename T>
std::size_t implicit_gemm_block_columns(const Window2d& g, const PaddedImages& p) {
  constexpr std::size_t NR = GemmBlocking<T>::nr;
  const std::size_t reach = (g.kernel_h - 1) * p.row + g.kernel_w;
  const std::size_t budget = cache_sizes().l2 / 2 / (sizeof(T) * g.channels);
  const std::size_t columns = budget > reach + 4 * NR ? budget - reach : 4 * NR;
  return columns / NR * NR;
}

/// The inverse of compact_images: `count` NCHW planes of out_h x out_w from `images` into the
/// columns of `y` (filters x columns(count), row stride `ld`), zeros in the columns nobody keeps
/// (so that they add nothing to a weight gradient).
template <typename T>
void expand_images(const PaddedImages& p, std::size_t out_h, std::size_t out_w, std::size_t filters,
                   std::size_t count, const T* images, T* y, std::size_t ld) {
  const std::size_t plane = out_h * out_w;
  for (std::size_t f = 0; f < filters; ++f) {
    T* out = y + f * ld;
    for (std::size_t i = 0; i < count; ++i) {
      const T* in = images + (i * filters + f) * plane;
      for (std::size_t oh = 0; oh < p.image_rows; ++oh) {
        if (oh < out_h) out = std::copy(in + oh * out_w, in + (oh + 1) * out_w, out);
        out = std::fill_n(out, oh < out_h ? p.row - out_w : p.row, T(0));
      }
    }
  }
}

/// Depth of the weight gradient's slices: a packed slice of one NR-column panel of dy^T
/// (128 x NR values, 12 KiB for AVX2 floats, 24 KiB for AVX-512) stays in any x86 L1 while the
/// rows of the column matrix stream past it from L2. (With the GEMM's KC = 384 it did not, and
/// every row panel re-read dy^T from L2.) A constant, not the L1 size read at run time: the
/// slices fix the bits.
inline constexpr std::size_t conv2d_weight_grad_slice = 128;

/// Values `pack_output_gradient` writes for `filters` x `depth`.
template <typename T>
std::size_t packed_output_gradient_size(std::size_t filters, std::size_t depth) {
  constexpr std::size_t NR = GemmBlocking<T>::nr;
  return depth * ((filters + NR - 1) / NR * NR);
}

/// dy^T (depth x filters) from dy in the padded layout (filters x depth, row stride `ld`), packed
/// as the GEMM packs a B: for each `conv2d_weight_grad_slice` of the depth in turn, its NR-column
/// panels.
template <typename T>
void pack_output_gradient(std::size_t filters, std::size_t depth, const T* dy, std::size_t ld, T* packed) {
  using Blk = GemmBlocking<T>;
  const std::size_t padded = (filters + Blk::nr - 1) / Blk::nr * Blk::nr;
  constexpr std::size_t slice = conv2d_weight_grad_slice;
  for (std::size_t p0 = 0; p0 < depth; p0 += slice)
    pack_b_panel<Blk::nr>(true, std::min(slice, depth - p0), filters, dy + p0, ld, packed + p0 * padded);
}

/// dW^T (+)= col dy^T on one thread: the weight gradient, transposed (K rows of the column matrix x
/// `filters`, row stride `ldc`; beta 0 or 1), of one group in the padded layout. The column
/// matrix is read in place from the padded images `xp` (row r at xp + row_offsets[r], `depth`
/// = the group's columns, contiguous), dy^T comes packed (`pack_output_gradient`; zero in the
/// columns nobody keeps). Each element is one FMA chain per `conv2d_weight_grad_slice` of the
/// depth, each slice's sum added onto the ones before (a + b, rounded once).
template <typename T>
void conv2d_implicit_weight_gradient(std::size_t k_rows, std::size_t filters, std::size_t depth, const T* xp,
                                     const std::ptrdiff_t* row_offsets, const T* packed_dy, T beta, T* c,
                                     std::size_t ldc) {
  constexpr std::size_t MR = GemmBlocking<T>::mr, NR = GemmBlocking<T>::nr, KC = conv2d_weight_grad_slice;
  const std::size_t padded = (filters + NR - 1) / NR * NR;
  const ARowsMicroKernel<T> full_tile = a_rows_microkernel_for<T>(MR, NR);
  for (std::size_t p0 = 0; p0 < depth; p0 += KC) {
    const std::size_t kc = std::min(KC, depth - p0);
    const T beta_here = p0 == 0 ? beta : T(1);
    const T* b_slice = packed_dy + p0 * padded;
    for (std::size_t j0 = 0; j0 < filters; j0 += NR) {  // this panel of dy^T stays in L1
      const std::size_t cols = std::min(NR, filters - j0);
      for (std::size_t i0 = 0; i0 < k_rows; i0 += MR) {
        const std::size_t rows = std::min(MR, k_rows - i0);
        const T* a_rows[MR];
        for (std::size_t i = 0; i < MR; ++i) a_rows[i] = xp + row_offsets[i0 + std::min(i, rows - 1)] + p0;
        const ARowsMicroKernel<T> kernel =
            rows == MR && cols == NR ? full_tile : a_rows_microkernel_for<T>(rows, cols);
        kernel(kc, a_rows, b_slice + j0 * kc, beta_here, c + i0 * ldc + j0, ldc, cols);
      }
    }
  }
}

/// C[:, begin:end) = epilogue(A col) for the columns [begin, end) of a group in the padded
/// layout: A (m x K) packed by `pack_a_block` over the whole depth (panels MR x K), B the
/// column matrix given by `xp` and the K `row_offsets`, C of row stride `ldc`. `block` is the
/// column block (a multiple of NR; `implicit_gemm_block_columns`).
template <typename T>
void conv2d_implicit_gemm(std::size_t m, std::size_t k, const T* packed_a, const T* xp,
                          const std::ptrdiff_t* row_offsets, std::size_t begin, std::size_t end,
                          std::size_t block, T* c, std::size_t ldc, const GemmEpilogue<T>& epilogue) {
  constexpr std::size_t MR = GemmBlocking<T>::mr, NR = GemmBlocking<T>::nr, KC = GemmBlocking<T>::kc;
  const OffsetMicroKernel<T> full_tile = offset_microkernel_for<T>(MR, NR);
  for (std::size_t j0 = begin; j0 < end; j0 += block) {
    const std::size_t j1 = std::min(end, j0 + block);
    // The depth in the GEMM's KC slices, the later ones added onto the first: its bits.
    for (std::size_t p0 = 0; p0 < k; p0 += KC) {
      const std::size_t kc = std::min(KC, k - p0);
      const T beta = p0 == 0 ? T(0) : T(1);
      const bool last_slice = p0 + kc == k && !epilogue.empty();
      for (std::size_t i0 = 0; i0 < m; i0 += MR) {
        const std::size_t rows = std::min(MR, m - i0);
        const T* a_panel = packed_a + i0 * k + p0 * MR;
        for (std::size_t j = j0; j < j1; j += NR) {
          const std::size_t cols = std::min(NR, j1 - j);
          const OffsetMicroKernel<T> kernel =
              rows == MR && cols == NR ? full_tile : offset_microkernel_for<T>(rows, cols);
          T* tile = c + i0 * ldc + j;
          kernel(kc, a_panel, xp + j, row_offsets + p0, T(1), beta, tile, ldc, cols);
          if (last_slice) detail::apply_epilogue(epilogue, i0, j, rows, cols, tile, ldc);
        }
      }
    }
  }
}

}  // namespace tinydl::kernels
