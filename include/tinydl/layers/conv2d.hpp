#pragma once
/// @file conv2d.hpp
/// `Conv2D`: 2-D convolution (cross-correlation, as PyTorch's `nn.Conv2d`). The layer holds the
/// weights and options; the algorithm (im2col + GEMM, image groups, thread-independent weight
/// gradient sums) and its math are in kernels/conv2d.hpp.

#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include "tinydl/core/init.hpp"
#include "tinydl/kernels/conv2d.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/window_options.hpp"

namespace tinydl {

/// 2-D convolution with `filters` output channels. Input (N, C, H, W), output (N, filters, OH, OW)
/// with OH = (H + 2*pad_h - kh) / stride_h + 1 (and likewise OW).
template <typename T>
class Conv2D : public Layer<T> {
 public:
  /// `Conv2D<float>(32, 3)`: 32 filters of 3x3, stride 1, no padding, with bias, He-normal weights.
  Conv2D(std::size_t filters, Size2d kernel, Size2d stride = 1, Padding padding = Padding::valid(),
         bool use_bias = true, Initializer init = Initializer::he_normal)
      : filters_(filters),
        kernel_(kernel),
        stride_(stride),
        padding_(padding),
        pad_(0),
        use_bias_(use_bias),
        init_(init) {
    check<ConfigError>(filters > 0, "Conv2D: filters must be at least 1");
    check<ConfigError>(kernel.h > 0 && kernel.w > 0, "Conv2D: kernel must be at least 1x1, got ", kernel.h,
                       "x", kernel.w);
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
    check<ShapeError>(input[2] + 2 * pad_.h >= kernel_.h && input[3] + 2 * pad_.w >= kernel_.w, this->who(),
                      ": a ", kernel_.h, "x", kernel_.w, " kernel does not fit input ", input, " padded by (",
                      pad_.h, ", ", pad_.w, ")");
    return Shape{input[0], filters_, g.out_h(), g.out_w()};
  }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    kernels::conv2d_reserve(geometry(this->input_), max_batch, scratch_);
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
    return {{"filters", filters_},         {"kernel_size", kernel_.to_json()},
            {"stride", stride_.to_json()}, {"padding", padding_.to_json()},
            {"use_bias", use_bias_},       {"init", initializer_name(init_)}};
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
    kernels::GemmEpilogue<T> epilogue;
    epilogue.row_bias = use_bias_ ? bias_.data() : nullptr;
    kernels::conv2d_forward(geometry(x.shape()), x.shape()[0], x.data(), weight_.data(), epilogue, y.data(),
                            scratch_);
  }

  bool begin_output_stage(OutputStage<T>& stage) const override {
    stage.begin(filters_, use_bias_ ? bias_.data() : nullptr);
    stage.can_pool = true;
    return true;
  }

  Shape output_shape_with_stage(const Shape& input, const OutputStage<T>& stage) const override {
    const Shape out = output_shape(input);
    if (!stage.pooled) return out;
    const kernels::Window2d pool = pool_window(out, stage);
    return Shape{out[0], out[1], pool.out_h(), pool.out_w()};
  }

  void forward_with_stage_impl(TensorView<const T> x, TensorView<T> y, const OutputStage<T>& stage) override {
    kernels::GemmEpilogue<T> epilogue;
    epilogue.row_bias = stage.shift.data();
    epilogue.row_scale = stage.scales();
    epilogue.relu = stage.relu;
    const kernels::Window2d pool =
        stage.pooled ? pool_window(output_shape(x.shape()), stage) : kernels::Window2d{};
    kernels::conv2d_forward(geometry(x.shape()), x.shape()[0], x.data(), weight_.data(), epilogue, y.data(),
                            scratch_, stage.pooled ? &pool : nullptr);
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    kernels::conv2d_backward(geometry(x.shape()), x.shape()[0], x.data(), weight_.data(), dy.data(),
                             weight_grad_.data(), use_bias_ ? bias_grad_.data() : nullptr, dx.data(),
                             scratch_);
  }

  /// After a ReLU, its backward is dx *= (x > 0), done per image group while dx is in cache.
  bool absorbs_relu_backward() const override { return true; }

  void backward_through_relu_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                                  TensorView<T> dx) override {
    kernels::conv2d_backward(geometry(x.shape()), x.shape()[0], x.data(), weight_.data(), dy.data(),
                             weight_grad_.data(), use_bias_ ? bias_grad_.data() : nullptr, dx.data(),
                             scratch_, true);
  }

 private:
  kernels::Window2d window(const Shape& input) const { return make_window(input, kernel_, stride_, pad_); }
  kernels::Conv2dGeometry geometry(const Shape& input) const { return {window(input), filters_}; }
  /// The window of the MaxPool2D folded into `stage`, over this layer's output `out`.
  static kernels::Window2d pool_window(const Shape& out, const OutputStage<T>& stage) {
    return make_window(out, stage.pool_size, stage.pool_stride, stage.pool_padding);
  }

  std::size_t filters_, in_channels_ = 0;
  Size2d kernel_, stride_;
  Padding padding_;
  Size2d pad_;
  bool use_bias_;
  Initializer init_;
  Tensor<T> weight_, weight_grad_, bias_, bias_grad_;
  kernels::Conv2dScratch<T> scratch_;
};

}  // namespace tinydl
