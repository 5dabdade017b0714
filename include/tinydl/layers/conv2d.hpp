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
/// A batch runs image by image, the images spread over the threads, each with its own column
/// buffer (C*kh*kw x OH*OW, which stays in L2 cache). The weight gradient sums over images; to
/// keep that sum independent of the thread count, images are summed in fixed groups of
/// `weight_grad_group` into one partial per group, and the partials are added in group order.
/// A 1x1 convolution with stride 1 and no padding skips im2col: its column matrix is x itself.

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
  /// Patches narrower than this get their weight gradient as dot products rather than a GEMM.
  static constexpr std::size_t small_patch = 16;

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

  void build(const Shape& input, const CounterRng& rng, std::uint64_t stream) override {
    (void)output_shape(input);
    this->input_ = input;
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

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    const kernels::Window2d g = window(this->input_);
    if (!is_pointwise()) columns_.reserve(g.patch_size() * g.out_pixels());
    const std::size_t groups = (max_batch + weight_grad_group - 1) / weight_grad_group;
    ensure_capacity(weight_partials_, groups * weight_.size());
    ensure_capacity(bias_partials_, groups * filters_);
  }

  void forward(TensorView<const T> x, TensorView<T> y, Mode) override {
    this->check_shapes("forward", x.shape(), y.shape());
    const kernels::Window2d g = window(x.shape());
    const std::size_t n = x.shape()[0], patch = g.patch_size(), pixels = g.out_pixels();
    const std::size_t in_image = x.shape().item_numel(), out_image = y.shape().item_numel();
    if (!is_pointwise()) columns_.reserve(patch * pixels);
    kernels::GemmEpilogue<T> epilogue;
    epilogue.row_bias = use_bias_ ? bias_.data() : nullptr;
    const T* w = weight_.data();
    parallel_for(n, [&](std::size_t b, int thread) {
      const T* col = columns_for(g, x.data() + b * in_image, thread);
      kernels::gemm(kernels::Trans::no, kernels::Trans::no, filters_, pixels, patch, T(1), w, patch, col, pixels, T(0),
                    y.data() + b * out_image, pixels, epilogue);
    });
  }

  void backward(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy, TensorView<T> dx) override {
    this->check_backward_shapes(x, y, dy, dx);
    using kernels::Trans;
    const kernels::Window2d g = window(x.shape());
    const std::size_t n = x.shape()[0], patch = g.patch_size(), pixels = g.out_pixels();
    const std::size_t in_image = x.shape().item_numel(), out_image = dy.shape().item_numel();
    const std::size_t groups = (n + weight_grad_group - 1) / weight_grad_group;
    reserve(n);
    const T* w = weight_.data();

    parallel_for(groups, [&](std::size_t group, int thread) {
      T* dw = weight_partials_.data() + group * weight_.size();
      T* db = bias_partials_.data() + group * filters_;
      std::fill(db, db + filters_, T(0));
      const std::size_t first = group * weight_grad_group, last = std::min(n, first + weight_grad_group);
      for (std::size_t b = first; b < last; ++b) {
        const T* dy_b = dy.data() + b * out_image;
        const T* col = columns_for(g, x.data() + b * in_image, thread);
        // dW_group (+)= dy_b col^T: a GEMM, or dot products when the patch is too narrow for
        // the GEMM's tiles (a first layer's 3x3 patch of one channel: 9 columns)
        if (patch < small_patch) {
          if (b == first) std::fill(dw, dw + weight_.size(), T(0));
          kernels::add_dot_products(filters_, patch, pixels, dy_b, pixels, col, pixels, dw, patch);
        } else {
          kernels::gemm(Trans::no, Trans::yes, filters_, patch, pixels, T(1), dy_b, pixels, col, pixels,
                        b == first ? T(0) : T(1), dw, patch);
        }
        kernels::add_row_sums(filters_, pixels, dy_b, pixels, db);
        if (!dx.data()) continue;
        T* dx_b = dx.data() + b * in_image;
        if (is_pointwise()) {  // dx_b = W^T dy_b directly
          kernels::gemm(Trans::yes, Trans::no, patch, pixels, filters_, T(1), w, patch, dy_b, pixels, T(0), dx_b,
                        pixels);
        } else {  // dcol = W^T dy_b into the column buffer (col is no longer needed), then col2im
          T* dcol = columns_.get(thread);
          kernels::gemm(Trans::yes, Trans::no, patch, pixels, filters_, T(1), w, patch, dy_b, pixels, T(0), dcol,
                        pixels);
          std::fill(dx_b, dx_b + in_image, T(0));
          kernels::col2im(g, dcol, pixels, dx_b);
        }
      }
    });

    for (std::size_t group = 0; group < groups; ++group) {  // fixed order: deterministic
      kernels::axpy(weight_.size(), T(1), weight_partials_.data() + group * weight_.size(), weight_grad_.data());
      if (use_bias_) kernels::axpy(filters_, T(1), bias_partials_.data() + group * filters_, bias_grad_.data());
    }
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

private:
  kernels::Window2d window(const Shape& input) const { return make_window(input, kernel_, stride_, pad_); }

  /// A 1x1 kernel with stride 1 and no padding: the image is its own column matrix.
  bool is_pointwise() const {
    return kernel_.h == 1 && kernel_.w == 1 && stride_.h == 1 && stride_.w == 1 && pad_.h == 0 && pad_.w == 0;
  }

  /// The column matrix of one image: the image itself for a pointwise kernel, else im2col into
  /// the calling thread's buffer.
  const T* columns_for(const kernels::Window2d& g, const T* image, int thread) {
    if (is_pointwise()) return image;
    T* col = columns_.get(thread);
    kernels::im2col(g, image, col, g.out_pixels());
    return col;
  }

  std::size_t filters_, in_channels_ = 0;
  Size2d kernel_, stride_;
  Padding padding_;
  Size2d pad_;
  bool use_bias_;
  Initializer init_;
  Tensor<T> weight_, weight_grad_, bias_, bias_grad_;
  ThreadScratch<T> columns_;
  AlignedBuffer<T> weight_partials_, bias_partials_;
};

}  // namespace tinydl
