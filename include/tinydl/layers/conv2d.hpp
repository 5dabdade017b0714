#pragma once
/// @file conv2d.hpp
/// `Conv2D`: 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`) by im2col + GEMM.
///
/// For one image x (C, H, W), weight W (F, C, kh, kw) seen as a matrix (F, C*kh*kw), bias b (F),
/// and col = im2col(x) of shape (C*kh*kw, OH*OW):
///
///     forward    y  = W col + b                        y: (F, OH*OW) = (F, OH, OW)
///     backward   dW += dy col^T                        (F, C*kh*kw)
///                db += sum over pixels of dy           (F)
///                dx  = col2im(W^T dy)                  (C, H, W)
///
/// A batch runs in small groups of images, the groups spread over the threads, each thread with
/// its own column buffer. A group is one image when an image has enough output pixels to fill
/// the GEMM's tiles, else 2 or 4 images side by side (col: C*kh*kw x G*OH*OW; the GEMM's output
/// is copied to NCHW), so small feature maps still make GEMMs wide enough to run near peak.
/// The weight gradient sums over images; to keep that sum independent of the thread count,
/// images are summed in fixed groups of `weight_grad_group` into one partial per group, and the
/// partials are added in group order. A 1x1 convolution with stride 1 and no padding skips
/// im2col: its column matrix is x itself.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "tinydl/core/init.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/scratch.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/kernels/im2col.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/window_options.hpp"

namespace tinydl {

/// 2-D convolution with `filters` output channels. Input (N, C, H, W), output (N, filters, OH, OW)
/// with OH = (H + 2*pad_h - kh) / stride_h + 1 (and likewise OW).
template <typename T>
class Conv2D : public Layer<T> {
public:
  /// Images summed into one weight-gradient partial (fixed, so results do not depend on threads).
  static constexpr std::size_t weight_grad_group = 4;
  /// Output pixels per GEMM below which images are grouped (measured: 121 pixels of 64 filters
  /// run at 78 GFLOP/s on one core, 484 at 91; 196 at 80, 784 at 92).
  static constexpr std::size_t wide_gemm = 512;

  /// `Conv2D<float>(32, 3)`: 32 filters of 3x3, stride 1, no padding, with bias, He-normal weights.
  Conv2D(std::size_t filters, Size2d kernel, Size2d stride = 1, Padding padding = Padding::valid(),
         bool use_bias = true, Initializer init = Initializer::he_normal)
      : filters_(filters), kernel_(kernel), stride_(stride), padding_(padding), pad_(0), use_bias_(use_bias),
        init_(init) {
    check<ConfigError>(filters > 0, "Conv2D: filters must be at least 1");
    check<ConfigError>(kernel.h > 0 && kernel.w > 0, "Conv2D: kernel must be at least 1x1, got ", kernel.h, "x",
                       kernel.w);
    check<ConfigError>(stride.h > 0 && stride.w > 0, "Conv2D: stride must be at least 1, got ", stride.h, "x",
                       stride.w);
    pad_ = padding.resolve(kernel, stride, "Conv2D");
  }

  std::string type() const override { return "Conv2D"; }
  std::size_t filters() const { return filters_; }
  std::size_t in_channels() const { return in_channels_; }
  Size2d kernel_size() const { return kernel_; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 4, this->who(), ": expected input (N, C, H, W), got ", input);
    check<ShapeError>(in_channels_ == 0 || input[1] == in_channels_, this->who(), ": expected input (N, ",
                      in_channels_, ", H, W), got ", input);
    const kernels::Window2d g = window(input);
    check<ShapeError>(input[2] + 2 * pad_.h >= kernel_.h && input[3] + 2 * pad_.w >= kernel_.w, this->who(), ": a ",
                      kernel_.h, "x", kernel_.w, " kernel does not fit input ", input, " padded by (", pad_.h, ", ",
                      pad_.w, ")");
    return Shape{input[0], filters_, g.out_h(), g.out_w()};
  }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    const kernels::Window2d g = window(this->input_);
    reserve_scratch(g);
    const std::size_t groups = (max_batch + weight_grad_group - 1) / weight_grad_group;
    ensure_capacity(weight_partials_, groups * weight_.size());
    ensure_capacity(bias_partials_, groups * filters_);
  }

  std::uint64_t parameter_count(const Shape& input) const override {
    if (input.rank() != 4) return 0;
    const std::uint64_t weights = saturating_multiply(saturating_multiply(input[1], kernel_.h), kernel_.w);
    const bool full = weights == std::numeric_limits<std::uint64_t>::max();
    return saturating_multiply(filters_, full ? weights : weights + (use_bias_ ? 1 : 0));
  }

  std::vector<Param<T>> params() override {
    std::vector<Param<T>> p{{"weight", weight_.view(), weight_grad_.view()}};
    if (use_bias_) p.push_back({"bias", bias_.view(), bias_grad_.view()});
    return p;
  }

  nlohmann::json config() const override {
    return {{"filters", filters_},           {"kernel_size", kernel_.to_json()}, {"stride", stride_.to_json()},
            {"padding", padding_.to_json()}, {"use_bias", use_bias_},            {"init", initializer_name(init_)}};
  }

protected:
  void build_impl(const Shape& input, const CounterRng& rng, std::uint64_t stream) override {
    in_channels_ = input[1];
    weight_ = Tensor<T>(Shape{filters_, in_channels_, kernel_.h, kernel_.w});
    weight_grad_ = Tensor<T>(weight_.shape());
    const std::size_t fan_in = in_channels_ * kernel_.h * kernel_.w;
    initialize(init_, weight_.view(), fan_in, filters_ * kernel_.h * kernel_.w, rng, stream);
    if (use_bias_) {
      bias_ = Tensor<T>(Shape{filters_});
      bias_grad_ = Tensor<T>(bias_.shape());
      initialize_bias(init_, bias_.view(), fan_in, rng, stream + 1);
    }
  }

  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    const kernels::Window2d g = window(x.shape());
    const std::size_t n = x.shape()[0], patch = g.patch_size(), pixels = g.out_pixels();
    const std::size_t in_image = x.shape().item_numel(), out_image = y.shape().item_numel();
    const std::size_t group = images_per_gemm(pixels), groups = (n + group - 1) / group;
    reserve_scratch(g);
    kernels::GemmEpilogue<T> epilogue;
    epilogue.row_bias = use_bias_ ? bias_.data() : nullptr;
    const T* w = weight_.data();
    parallel_for(groups, [&](std::size_t index, int thread) {
      const std::size_t first = index * group, count = std::min(group, n - first), width = count * pixels;
      const T* col = columns_for(g, x.data() + first * in_image, in_image, count, thread);
      // y = W col + b, straight into y for one image, else into staging and then out to NCHW
      T* out = count == 1 ? y.data() + first * out_image : staging_.get(thread);
      kernels::gemm(kernels::Trans::no, kernels::Trans::no, filters_, width, patch, T(1), w, patch, col, width, T(0),
                    out, width, epilogue);
      if (count > 1) scatter_images(out, count, pixels, y.data() + first * out_image);
    });
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    using kernels::Trans;
    const kernels::Window2d g = window(x.shape());
    const std::size_t n = x.shape()[0], patch = g.patch_size(), pixels = g.out_pixels();
    const std::size_t in_image = x.shape().item_numel(), out_image = dy.shape().item_numel();
    const std::size_t groups = (n + weight_grad_group - 1) / weight_grad_group, group = images_per_gemm(pixels);
    reserve(n);
    const T* w = weight_.data();

    parallel_for(groups, [&](std::size_t grad_group, int thread) {
      T* dw = weight_partials_.data() + grad_group * weight_.size();
      T* db = bias_partials_.data() + grad_group * filters_;
      std::fill(db, db + filters_, T(0));
      const std::size_t first = grad_group * weight_grad_group, last = std::min(n, first + weight_grad_group);
      for (std::size_t b = first; b < last; b += group) {  // `group` divides weight_grad_group
        const std::size_t count = std::min(group, last - b), width = count * pixels;
        const T* dy_b = dy.data() + b * out_image;
        if (count > 1) {  // dy of the images side by side: (filters, count * pixels)
          gather_images(dy_b, count, pixels, staging_.get(thread));
          dy_b = staging_.get(thread);
        }
        const T* col = columns_for(g, x.data() + b * in_image, in_image, count, thread);
        // dW_group (+)= dy_b col^T (for a first layer's 3x3 patch of one channel, 9 columns, the
        // GEMM computes it as dot products)
        kernels::gemm(Trans::no, Trans::yes, filters_, patch, width, T(1), dy_b, width, col, width,
                      b == first ? T(0) : T(1), dw, patch);
        kernels::add_row_sums(filters_, width, dy_b, width, db);
        if (!dx.data()) continue;
        T* dx_b = dx.data() + b * in_image;
        if (is_pointwise()) {  // dx_b = W^T dy_b directly (pointwise layers run one image at a time)
          kernels::gemm(Trans::yes, Trans::no, patch, pixels, filters_, T(1), w, patch, dy_b, pixels, T(0), dx_b,
                        pixels);
        } else {  // dcol = W^T dy_b into the column buffer (col is no longer needed), then col2im
          T* dcol = columns_.get(thread);
          kernels::gemm(Trans::yes, Trans::no, patch, width, filters_, T(1), w, patch, dy_b, width, T(0), dcol,
                        width);
          std::fill(dx_b, dx_b + count * in_image, T(0));
          for (std::size_t i = 0; i < count; ++i) kernels::col2im(g, dcol + i * pixels, width, dx_b + i * in_image);
        }
      }
    });

    for (std::size_t grad_group = 0; grad_group < groups; ++grad_group) {  // fixed order: deterministic
      kernels::axpy(weight_.size(), T(1), weight_partials_.data() + grad_group * weight_.size(), weight_grad_.data());
      if (use_bias_) kernels::axpy(filters_, T(1), bias_partials_.data() + grad_group * filters_, bias_grad_.data());
    }
  }

private:
  kernels::Window2d window(const Shape& input) const { return make_window(input, kernel_, stride_, pad_); }

  /// A 1x1 kernel with stride 1 and no padding: the image is its own column matrix.
  bool is_pointwise() const {
    return kernel_.h == 1 && kernel_.w == 1 && stride_.h == 1 && stride_.w == 1 && pad_.h == 0 && pad_.w == 0;
  }

  /// Images per GEMM for feature maps of `pixels` output pixels: 1, 2 or 4 (dividing
  /// weight_grad_group), so that a GEMM has about `wide_gemm` columns or more.
  std::size_t images_per_gemm(std::size_t pixels) const {
    if (is_pointwise() || pixels >= wide_gemm) return 1;
    return 2 * pixels >= wide_gemm ? 2 : 4;
  }

  void reserve_scratch(const kernels::Window2d& g) {
    const std::size_t width = images_per_gemm(g.out_pixels()) * g.out_pixels();
    if (!is_pointwise()) columns_.reserve(g.patch_size() * width);
    if (width > g.out_pixels()) staging_.reserve(filters_ * width);
  }

  /// The column matrix of `count` consecutive images side by side (patch x count * pixels): the
  /// image itself for a pointwise kernel (count is then 1), else im2col into the thread's buffer.
  const T* columns_for(const kernels::Window2d& g, const T* images, std::size_t in_image, std::size_t count,
                       int thread) {
    if (is_pointwise()) return images;
    T* col = columns_.get(thread);
    const std::size_t pixels = g.out_pixels();
    for (std::size_t i = 0; i < count; ++i) kernels::im2col(g, images + i * in_image, col + i * pixels, count * pixels);
    return col;
  }

  /// (filters, count * pixels) side by side -> `count` images (filters, pixels) in NCHW order.
  void scatter_images(const T* wide, std::size_t count, std::size_t pixels, T* images) const {
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t f = 0; f < filters_; ++f) {
        const T* row = wide + f * count * pixels + i * pixels;
        std::copy(row, row + pixels, images + (i * filters_ + f) * pixels);
      }
  }

  /// The inverse of scatter_images: `count` NCHW images -> (filters, count * pixels).
  void gather_images(const T* images, std::size_t count, std::size_t pixels, T* wide) const {
    for (std::size_t i = 0; i < count; ++i)
      for (std::size_t f = 0; f < filters_; ++f) {
        const T* row = images + (i * filters_ + f) * pixels;
        std::copy(row, row + pixels, wide + f * count * pixels + i * pixels);
      }
  }

  std::size_t filters_, in_channels_ = 0;
  Size2d kernel_, stride_;
  Padding padding_;
  Size2d pad_;
  bool use_bias_;
  Initializer init_;
  Tensor<T> weight_, weight_grad_, bias_, bias_grad_;
  ThreadScratch<T> columns_;
  ThreadScratch<T> staging_;  // a group's GEMM output (forward) or output gradient (backward), side by side
  AlignedBuffer<T> weight_partials_, bias_partials_;
};

}  // namespace tinydl
