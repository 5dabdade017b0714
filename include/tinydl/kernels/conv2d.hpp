#pragma once
/// @file conv2d.hpp
/// 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) of a batch: an implicit GEMM on
/// padded images for stride 1 (conv2d_implicit.hpp), im2col + GEMM otherwise.
///
/// For one image x (C, H, W), weight W (F, C*kh*kw) and bias b (F), with
/// col = im2col(x) of shape (C*kh*kw, OH*OW):
///
///     forward    y  = W col + b                        y: (F, OH*OW) = (F, OH, OW)
///     backward   dW += dy col^T                        (F, C*kh*kw)
///                db += sum over pixels of dy           (F)
///                dx  = col2im(W^T dy)                  (C, H, W)
///
/// How a batch runs:
///   - Images go in small groups spread over the threads, each thread with its own column
///     buffer. A group is one image when an image has enough output pixels to fill the GEMM's
///     tiles, else 2 or 4 images side by side (col: C*kh*kw x G*OH*OW; the GEMM's output is
///     copied out to NCHW by `scatter_images`), so small feature maps still make GEMMs wide
///     enough to run near peak.
///   - The weight gradient sums over images. To keep that sum independent of the thread count,
///     images are summed in fixed groups of `conv2d_weight_grad_group` into one partial per
///     group, and the partials are added in group order.
///   - A 1x1 convolution with stride 1 and no padding skips im2col: its column matrix is x.
///   - A stride-1 convolution's forward pass and input gradient skip it too: each is a GEMM that
///     reads its column matrix in place from the zero-padded images (the input gradient is the
///     stride-1 convolution of dy by the flipped kernels). The forward gives im2col + GEMM's bits.
///     The weight gradient still multiplies by an im2col matrix.
///
/// The caller owns the workspace (`Conv2dScratch`, sized by `conv2d_reserve` for the largest
/// batch), so a pass allocates nothing.

#include <algorithm>
#include <cstddef>

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/scratch.hpp"
#include "tinydl/kernels/conv2d_implicit.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/kernels/im2col.hpp"
#include "tinydl/kernels/pooling.hpp"
#include "tinydl/kernels/window.hpp"

namespace tinydl::kernels {

/// Images summed into one weight-gradient partial (fixed, so results do not depend on threads).
constexpr std::size_t conv2d_weight_grad_group = 4;

/// Output pixels per GEMM below which images are grouped (measured: 121 pixels of 64 filters run
/// at 78 GFLOP/s on one core, 484 at 91; 196 at 80, 784 at 92).
constexpr std::size_t conv2d_wide_gemm = 512;

/// A convolution's geometry: the window over each input image and the number of filters.
struct Conv2dGeometry {
  Window2d window;
  std::size_t filters = 1;

  /// A 1x1 kernel with stride 1 and no padding: the image is its own column matrix.
  bool pointwise() const {
    return window.kernel_h == 1 && window.kernel_w == 1 && window.stride_h == 1 && window.stride_w == 1 &&
           window.pad_h == 0 && window.pad_w == 0;
  }
  /// Images per GEMM: 1, 2 or 4 (dividing conv2d_weight_grad_group), so that a GEMM has about
  /// `conv2d_wide_gemm` columns or more.
  std::size_t images_per_gemm() const {
    const std::size_t pixels = window.out_pixels();
    if (pointwise() || pixels >= conv2d_wide_gemm) return 1;
    return 2 * pixels >= conv2d_wide_gemm ? 2 : 4;
  }
  /// Whether the implicit GEMM runs this convolution (conv2d_implicit.hpp): a stride-1 window
  /// whose column matrix is larger than the output (a first layer's 9 rows of 32 filters are
  /// cheaper to copy than the output is to compact).
  bool implicit() const { return implicit_gemm_fits(window) && window.patch_size() >= filters; }
  /// Whether the weight gradient reads the padded images too: there it multiplies the columns
  /// nobody keeps (by zeros), so only where they are at most a quarter (a 7x7 "same" image keeps
  /// 49 of 64 columns; a 13x13 "valid" one only 121 of 169, and im2col is faster there).
  bool implicit_weight_gradient() const {
    return implicit() && 4 * window.out_pixels() >= 3 * PaddedImages(window, 1).columns(1);
  }
  std::size_t in_image() const { return window.channels * window.in_h * window.in_w; }
  std::size_t out_image() const { return filters * window.out_pixels(); }
  std::size_t weight_size() const { return filters * window.patch_size(); }
};

/// Per-thread buffers and weight-gradient partials of a convolution; owned by the caller.
template <typename T>
struct Conv2dScratch {
  ThreadScratch<T> columns;  ///< a group's column matrix (forward) or its gradient (backward)
  ThreadScratch<T> staging;  ///< a group's output (forward) or output gradient (backward), side by side
  ThreadScratch<std::int32_t> pool_argmax;          ///< a pooled forward's arg-max of one plane (unused)
  AlignedBuffer<T> weight_partials, bias_partials;  ///< one per group of conv2d_weight_grad_group images
  // The implicit GEMM's (stride 1):
  ThreadScratch<T> padded;                    ///< a group's padded images (forward) or dy (input gradient)
  ThreadScratch<T> plane;                     ///< one compacted output plane, for a fused pooling
  AlignedBuffer<T> packed_kernels;            ///< the weights packed as the GEMM's A (or flipped, for dx)
  AlignedBuffer<T> flipped_kernels;           ///< the input gradient's kernels (`flip_kernels`)
  AlignedBuffer<std::ptrdiff_t> row_offsets;  ///< the column matrix's rows in the padded images
  ThreadScratch<T> packed_dy;                 ///< a group's dy^T packed (the weight gradient's B)
};

/// Sizes `scratch` for batches of up to `max_batch` images (only grows).
template <typename T>
void conv2d_reserve(const Conv2dGeometry& c, std::size_t max_batch, Conv2dScratch<T>& scratch) {
  const std::size_t width = c.images_per_gemm() * c.window.out_pixels();
  if (!c.pointwise()) scratch.columns.reserve(c.window.patch_size() * width);
  if (width > c.window.out_pixels()) scratch.staging.reserve(c.filters * width);
  const std::size_t groups = (max_batch + conv2d_weight_grad_group - 1) / conv2d_weight_grad_group;
  ensure_capacity(scratch.weight_partials, groups * c.weight_size());
  ensure_capacity(scratch.bias_partials, groups * c.filters);
}

namespace detail {

/// The column matrix of `count` consecutive images side by side (patch x count * pixels): the
/// images themselves for a pointwise kernel (count is then 1), else im2col into `buffer`.
template <typename T>
const T* columns_of(const Conv2dGeometry& c, const T* images, std::size_t count, ThreadScratch<T>& columns,
                    int thread) {
  if (c.pointwise()) return images;  // (no column buffer is reserved then)
  T* buffer = columns.get(thread);
  const std::size_t pixels = c.window.out_pixels();
  for (std::size_t i = 0; i < count; ++i)
    im2col(c.window, images + i * c.in_image(), buffer + i * pixels, count * pixels);
  return buffer;
}

/// (filters, count * pixels) side by side -> `count` images (filters, pixels) in NCHW order.
template <typename T>
void scatter_images(const T* wide, std::size_t filters, std::size_t count, std::size_t pixels, T* images) {
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t f = 0; f < filters; ++f) {
      const T* row = wide + f * count * pixels + i * pixels;
      std::copy(row, row + pixels, images + (i * filters + f) * pixels);
    }
}

/// The inverse of scatter_images: `count` NCHW images -> (filters, count * pixels).
template <typename T>
void gather_images(const T* images, std::size_t filters, std::size_t count, std::size_t pixels, T* wide) {
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t f = 0; f < filters; ++f) {
      const T* row = images + (i * filters + f) * pixels;
      std::copy(row, row + pixels, wide + f * count * pixels + i * pixels);
    }
}

/// Images per implicit GEMM: enough for about `conv2d_wide_gemm` columns, at most 8.
inline std::size_t images_per_implicit_gemm(const Window2d& g) {
  const std::size_t per_image = PaddedImages(g, 1).columns(1);
  return std::clamp<std::size_t>((conv2d_wide_gemm + per_image - 1) / per_image, 1, 8);
}

/// y = epilogue(W * x) for the stride-1 window g (`implicit_gemm_fits`) and `n` images, W given as
/// the GEMM's packed A (`filters` rows; the caller packs it into `scratch.packed_kernels`), y in
/// NCHW; pooled by `pool` as in conv2d_forward, or multiplied by the ReLU derivative at
/// `relu_output` (n images of y's size). Groups of images go to the threads; when there are
/// fewer groups than threads, each group's columns are split between them instead (one image
/// at inference). Any split gives the same bits.
template <typename T>
void implicit_convolution(const Window2d& g, std::size_t filters, std::size_t n, const T* x,
                          const GemmEpilogue<T>& epilogue, T* y, Conv2dScratch<T>& scratch,
                          const Window2d* pool, const T* relu_output) {
  constexpr std::size_t NR = GemmBlocking<T>::nr;
  const std::size_t group = images_per_implicit_gemm(g), groups = (n + group - 1) / group;
  const PaddedImages layout(g, group);
  const std::size_t depth = g.patch_size(), width = layout.columns(group);
  const std::size_t in_image = g.channels * g.in_h * g.in_w, out_pixels = g.out_pixels();
  const std::size_t out_image = filters * (pool ? pool->out_pixels() : out_pixels);
  scratch.padded.reserve(g.channels * layout.plane);
  scratch.staging.reserve(filters * width);
  if (pool) {
    scratch.plane.reserve(out_pixels);
    scratch.pool_argmax.reserve(pool->out_pixels());
  }
  ensure_capacity(scratch.row_offsets, depth);
  column_row_offsets(g, layout, scratch.row_offsets.data());
  const std::size_t block = implicit_gemm_block_columns<T>(g, layout);
  const T* packed = scratch.packed_kernels.data();
  const std::ptrdiff_t* offsets = scratch.row_offsets.data();

  // The group's kept columns out to y: compacted, pooled or masked.
  const auto finish = [&](std::size_t first, std::size_t count, const T* wide, int thread) {
    T* out = y + first * out_image;
    if (!pool) {
      compact_images(layout, g.out_h(), g.out_w(), filters, count, wide, width, out);
      if (relu_output) multiply_by_relu_derivative(count * out_image, relu_output + first * out_image, out);
      return;
    }
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t f = 0; f < filters; ++f) {
        compact_images(layout, g.out_h(), g.out_w(), 1, 1, wide + f * width + layout.column(i, 0), width,
                       scratch.plane.get(thread));
        maxpool_plane(*pool, scratch.plane.get(thread), out + (i * filters + f) * pool->out_pixels(),
                      scratch.pool_argmax.get(thread));
      }
  };
  const int threads = num_threads();
  if (groups >= static_cast<std::size_t>(threads)) {
    parallel_for(groups, [&](std::size_t index, int thread) {
      const std::size_t first = index * group, count = std::min(group, n - first);
      T* xp = scratch.padded.get(thread);
      T* wide = scratch.staging.get(thread);
      pad_images(g, layout, x + first * in_image, count, xp);
      conv2d_implicit_gemm(filters, depth, packed, xp, offsets, 0, layout.columns(count), block, wide, width,
                           epilogue);
      finish(first, count, wide, thread);
    });
    return;
  }
  for (std::size_t first = 0; first < n; first += group) {
    const std::size_t count = std::min(group, n - first), columns = layout.columns(count);
    T* xp = scratch.padded.get(0);
    T* wide = scratch.staging.get(0);
    pad_images(g, layout, x + first * in_image, count, xp);
    const std::size_t tiles = (columns + NR - 1) / NR, parts = static_cast<std::size_t>(threads);
    parallel_for(parts, [&](std::size_t part, int) {
      const std::size_t begin = tiles * part / parts * NR,
                        end = std::min(columns, tiles * (part + 1) / parts * NR);
      if (begin < end)
        conv2d_implicit_gemm(filters, depth, packed, xp, offsets, begin, end, block, wide, width, epilogue);
    });
    finish(first, count, wide, 0);
  }
}

}  // namespace detail

/// y = epilogue(W * x) for `n` images x (n, C, H, W) into y (n, F, OH, OW): the epilogue's row
/// values are per filter (the bias; in a fused evaluation pass also a folded BatchNorm's scale
/// and a ReLU). With `pool` (a fused evaluation pass: its in_h x in_w are OH x OW), each output
/// plane is max-pooled while the group's output is in cache and y gets the pooled planes
/// (n, F, pool's out_h, out_w): the full output never goes to memory. `scratch` grows here if
/// `conv2d_reserve` did not size it for `n` images.
template <typename T>
void conv2d_forward(const Conv2dGeometry& c, std::size_t n, const T* x, const T* weight,
                    const GemmEpilogue<T>& epilogue, T* y, Conv2dScratch<T>& scratch,
                    const Window2d* pool = nullptr) {
  const std::size_t patch = c.window.patch_size(), pixels = c.window.out_pixels();
  const std::size_t group = c.images_per_gemm(), groups = (n + group - 1) / group;
  const std::size_t pooled = pool ? pool->out_pixels() : 0;
  if (c.implicit()) {
    ensure_capacity(scratch.packed_kernels, (c.filters + GemmBlocking<T>::mr) * patch);
    pack_a_block<GemmBlocking<T>::mr>(false, c.filters, patch, weight, patch, scratch.packed_kernels.data());
    detail::implicit_convolution(c.window, c.filters, n, x, epilogue, y, scratch, pool,
                                 static_cast<const T*>(nullptr));
    return;
  }
  conv2d_reserve(c, n, scratch);
  if (pool) {
    scratch.staging.reserve(c.filters * group * pixels);
    scratch.pool_argmax.reserve(pooled);
  }
  parallel_for(groups, [&](std::size_t index, int thread) {
    const std::size_t first = index * group, count = std::min(group, n - first), width = count * pixels;
    const T* col = detail::columns_of(c, x + first * c.in_image(), count, scratch.columns, thread);
    // y = W col + b, straight into y for one image unpooled, else into staging and then out to
    // NCHW: as it is, or pooled
    T* out = count == 1 && !pool ? y + first * c.out_image() : scratch.staging.get(thread);
    gemm(Trans::no, Trans::no, c.filters, width, patch, T(1), weight, patch, col, width, T(0), out, width,
         epilogue);
    if (pool) {  // plane (image i, filter f) is contiguous in `out`, at f * width + i * pixels
      for (std::size_t i = 0; i < count; ++i)
        for (std::size_t f = 0; f < c.filters; ++f)
          maxpool_plane(*pool, out + f * width + i * pixels, y + ((first + i) * c.filters + f) * pooled,
                        scratch.pool_argmax.get(thread));
    } else if (count > 1) {
      detail::scatter_images(out, c.filters, count, pixels, y + first * c.out_image());
    }
  });
}

/// y = W * x + b (`bias` may be null); see above.
template <typename T>
void conv2d_forward(const Conv2dGeometry& c, std::size_t n, const T* x, const T* weight, const T* bias, T* y,
                    Conv2dScratch<T>& scratch) {
  GemmEpilogue<T> epilogue;
  epilogue.row_bias = bias;
  conv2d_forward(c, n, x, weight, epilogue, y, scratch);
}

/// The backward pass of `conv2d_forward` for `n` images: adds dL/dW into `weight_grad` and
/// dL/db into `bias_grad` (when not null), and writes dL/dx into `dx` (when not null), given the
/// forward's input x and the output gradient dy (n, F, OH, OW). The sums over images are in a
/// fixed order: the same bits for any thread count. With `relu_before` (x is a ReLU's output),
/// dx is then multiplied by the ReLU's derivative, image group by image group while it is in
/// cache: dx becomes the gradient of the ReLU's input.
template <typename T>
void conv2d_backward(const Conv2dGeometry& c, std::size_t n, const T* x, const T* weight, const T* dy,
                     T* weight_grad, T* bias_grad, T* dx, Conv2dScratch<T>& scratch,
                     bool relu_before = false) {
  const std::size_t patch = c.window.patch_size(), pixels = c.window.out_pixels();
  const std::size_t in_image = c.in_image(), out_image = c.out_image(), weights = c.weight_size();
  const std::size_t groups = (n + conv2d_weight_grad_group - 1) / conv2d_weight_grad_group;
  const std::size_t group = c.images_per_gemm();
  conv2d_reserve(c, n, scratch);
  // The implicit GEMM's weight gradient reads the padded images of each `group`; its dx is a
  // convolution of dy, run after the weight gradient.
  const bool implicit = c.implicit_weight_gradient(), implicit_dx = dx && c.implicit();
  const PaddedImages layout(c.window, group);
  if (implicit) {
    scratch.padded.reserve(c.window.channels * layout.plane);
    scratch.staging.reserve(c.filters * layout.columns(group));
    ensure_capacity(scratch.row_offsets, patch);
    scratch.packed_dy.reserve(packed_output_gradient_size<T>(c.filters, layout.columns(group)));
    column_row_offsets(c.window, layout, scratch.row_offsets.data());
  }

  parallel_for(groups, [&](std::size_t grad_group, int thread) {
    T* dw = scratch.weight_partials.data() + grad_group * weights;
    T* db = scratch.bias_partials.data() + grad_group * c.filters;
    std::fill(db, db + c.filters, T(0));
    const std::size_t first = grad_group * conv2d_weight_grad_group;
    const std::size_t last = std::min(n, first + conv2d_weight_grad_group);
    for (std::size_t b = first; b < last; b += group) {  // `group` divides conv2d_weight_grad_group
      const std::size_t count = std::min(group, last - b), width = count * pixels;
      const T* dy_b = dy + b * out_image;
      if (implicit) {  // dW_group^T (+)= col dy_b^T, both in the padded layout
        T* xp = scratch.padded.get(thread);
        T* dy_p = scratch.staging.get(thread);
        const std::size_t columns = layout.columns(count);
        pad_images(c.window, layout, x + b * in_image, count, xp);
        expand_images(layout, c.window.out_h(), c.window.out_w(), c.filters, count, dy_b, dy_p, columns);
        pack_output_gradient(c.filters, columns, dy_p, columns, scratch.packed_dy.get(thread));
        conv2d_implicit_weight_gradient(patch, c.filters, columns, xp, scratch.row_offsets.data(),
                                        scratch.packed_dy.get(thread), b == first ? T(0) : T(1), dw,
                                        c.filters);
        add_row_sums(c.filters, columns, dy_p, columns, db);
        continue;
      }
      if (count > 1) {  // dy of the images side by side: (filters, count * pixels)
        detail::gather_images(dy_b, c.filters, count, pixels, scratch.staging.get(thread));
        dy_b = scratch.staging.get(thread);
      }
      // dW_group (+)= dy_b col^T (for a first layer's 3x3 patch of one channel, 9 columns, the
      // GEMM computes it as dot products)
      const T* col = detail::columns_of(c, x + b * in_image, count, scratch.columns, thread);
      gemm(Trans::no, Trans::yes, c.filters, patch, width, T(1), dy_b, width, col, width,
           b == first ? T(0) : T(1), dw, patch);
      add_row_sums(c.filters, width, dy_b, width, db);
      if (!dx || implicit_dx) continue;
      T* dx_b = dx + b * in_image;
      if (c.pointwise()) {  // dx_b = W^T dy_b directly (pointwise layers run one image at a time)
        gemm(Trans::yes, Trans::no, patch, pixels, c.filters, T(1), weight, patch, dy_b, pixels, T(0), dx_b,
             pixels);
      } else {  // dcol = W^T dy_b into the column buffer (col is no longer needed), then col2im
        T* dcol = scratch.columns.get(thread);
        gemm(Trans::yes, Trans::no, patch, width, c.filters, T(1), weight, patch, dy_b, width, T(0), dcol,
             width);
        std::fill(dx_b, dx_b + count * in_image, T(0));
        for (std::size_t i = 0; i < count; ++i)
          col2im(c.window, dcol + i * pixels, width, dx_b + i * in_image);
      }
      if (relu_before) multiply_by_relu_derivative(count * in_image, x + b * in_image, dx_b);
    }
  });

  for (std::size_t grad_group = 0; grad_group < groups; ++grad_group) {  // fixed order: deterministic
    const T* partial = scratch.weight_partials.data() + grad_group * weights;
    if (implicit)  // the partial is dW^T (patch x filters)
      for (std::size_t f = 0; f < c.filters; ++f)
        for (std::size_t r = 0; r < patch; ++r) weight_grad[f * patch + r] += partial[r * c.filters + f];
    else
      axpy(weights, T(1), partial, weight_grad);
    if (bias_grad) axpy(c.filters, T(1), scratch.bias_partials.data() + grad_group * c.filters, bias_grad);
  }
  if (!implicit_dx) return;
  const Window2d transposed = transposed_window(c.window, c.filters);
  ensure_capacity(scratch.flipped_kernels, weights);
  ensure_capacity(scratch.packed_kernels,
                  (c.window.channels + GemmBlocking<T>::mr) * weights / c.window.channels);
  flip_kernels(c.window, c.filters, weight, scratch.flipped_kernels.data());
  pack_a_block<GemmBlocking<T>::mr>(false, c.window.channels, transposed.patch_size(),
                                    scratch.flipped_kernels.data(), transposed.patch_size(),
                                    scratch.packed_kernels.data());
  detail::implicit_convolution(transposed, c.window.channels, n, dy, GemmEpilogue<T>{}, dx, scratch, nullptr,
                               relu_before ? x : nullptr);
}

}  // namespace tinydl::kernels
