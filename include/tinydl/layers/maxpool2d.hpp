#pragma once
/// @file maxpool2d.hpp
/// `MaxPool2D`: the maximum over each window of each channel (PyTorch's `nn.MaxPool2d`, floor mode).
///
///     forward    y[n][c][i][j] = max over the window of x[n][c][...]; remember where (arg-max)
///     backward   dx[arg-max of y[n][c][i][j]] += dy[n][c][i][j]   (zero elsewhere)
///
/// After a ReLU (x = relu(z)), its backward dz = dx * (z > 0) is done here too: the only non-zero
/// dx are at arg-maxes, where z > 0 exactly when the window's maximum y > 0.

#include <algorithm>
#include <cstdint>
#include <string>

#include "tinydl/core/scratch.hpp"
#include "tinydl/kernels/pooling.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/window_options.hpp"

namespace tinydl {

/// Max pooling over `size` windows moved by `stride` (default: the window size), with optional
/// padding (padded positions never win). Input (N, C, H, W), output (N, C, OH, OW).
template <typename T>
class MaxPool2D : public Layer<T> {
 public:
  /// `MaxPool2D<float>(2)`: 2x2 windows, stride 2. A stride of 0 means "the window size".
  explicit MaxPool2D(Size2d size, Size2d stride = 0, Size2d padding = 0)
      : size_(size), stride_(stride.h == 0 || stride.w == 0 ? size : stride), padding_(padding) {
    check<ConfigError>(size.h > 0 && size.w > 0, "MaxPool2D: size must be at least 1x1, got ", size.h, "x",
                       size.w);
    check<ConfigError>(2 * padding_.h <= size.h && 2 * padding_.w <= size.w,
                       "MaxPool2D: padding must be at most half the window, got padding ", padding_.h, "x",
                       padding_.w, " for a ", size.h, "x", size.w, " window");
  }

  std::string type() const override { return "MaxPool2D"; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 4, this->who(), ": expected input (N, C, H, W), got ", input);
    check<ShapeError>(input[2] + 2 * padding_.h >= size_.h && input[3] + 2 * padding_.w >= size_.w,
                      this->who(), ": a ", size_.h, "x", size_.w, " window does not fit input ", input);
    const kernels::Window2d g = window(input);
    return Shape{input[0], input[1], g.out_h(), g.out_w()};
  }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    ensure_capacity(argmax_, output_shape(this->input_.with_batch(max_batch)).numel());
  }

  nlohmann::json config() const override {
    return {{"pool_size", size_.to_json()}, {"stride", stride_.to_json()}, {"padding", padding_.to_json()}};
  }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    ensure_capacity(argmax_, y.size());
    kernels::maxpool_forward(window(x.shape()), x.shape()[0] * x.shape()[1], x.data(), y.data(),
                             argmax_.data());
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    kernels::maxpool_backward(window(x.shape()), x.shape()[0] * x.shape()[1], dy.data(), argmax_.data(),
                              dx.data());
  }

  bool absorbs_relu_backward() const override { return true; }

  /// Folds into the output stage of a Conv2D before it: the convolution pools each image group's
  /// output while it is in cache (the same values: pooling only selects).
  bool fold_into(OutputStage<T>& stage) const override {
    if (!stage.can_pool || stage.pooled) return false;
    stage.pooled = true;
    stage.pool_size = size_;
    stage.pool_stride = stride_;
    stage.pool_padding = padding_;
    return true;
  }

  void backward_through_relu_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                                  TensorView<T> dx) override {
    kernels::maxpool_backward(window(x.shape()), x.shape()[0] * x.shape()[1], dy.data(), argmax_.data(),
                              dx.data(), y.data());
  }

 private:
  kernels::Window2d window(const Shape& input) const { return make_window(input, size_, stride_, padding_); }

  Size2d size_, stride_, padding_;
  AlignedBuffer<std::int32_t> argmax_;
};

}  // namespace tinydl
