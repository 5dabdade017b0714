#pragma once
/// @file avgpool2d.hpp
/// `AveragePooling2D` and `GlobalAveragePooling2D`: the mean over each window of each channel
/// (PyTorch's `nn.AvgPool2d`, floor mode), or over each whole channel (`nn.AdaptiveAvgPool2d(1)`,
/// Keras's GlobalAveragePooling2D).
///
///     AveragePooling2D        y[n][c][i][j] = sum over the window of x[n][c] / divisor
///                             dx[n][c][window of (i, j)] += dy[n][c][i][j] / divisor
///     GlobalAveragePooling2D  y[n][c] = mean of x[n][c]      dx[n][c][h][w] = dy[n][c] / (H W)
///
/// divisor: the window's size, padding counted as zeros (PyTorch's count_include_pad = true, its
/// default), or the number of values inside the image (count_include_pad = false).

#include <string>

#include "tinydl/kernels/pooling.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/pooling2d.hpp"

namespace tinydl {

/// Average pooling over `size` windows moved by `stride` (default: the window size), with optional
/// zero padding. Input (N, C, H, W), output (N, C, OH, OW).
template <typename T>
class AveragePooling2D : public Pooling2D<T> {
 public:
  /// `AveragePooling2D<float>(2)`: 2x2 windows, stride 2. A stride of 0 means "the window size".
  explicit AveragePooling2D(Size2d size, Size2d stride = 0, Size2d padding = 0, bool count_include_pad = true)
      : Pooling2D<T>("AveragePooling2D", size, stride, padding), count_include_pad_(count_include_pad) {}

  std::string type() const override { return "AveragePooling2D"; }

  nlohmann::json config() const override {
    nlohmann::json c = Pooling2D<T>::config();
    c["count_include_pad"] = count_include_pad_;
    return c;
  }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    kernels::avgpool_forward(this->window(x.shape()), x.shape()[0] * x.shape()[1], x.data(), y.data(),
                             count_include_pad_);
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    kernels::avgpool_backward(this->window(x.shape()), x.shape()[0] * x.shape()[1], dy.data(), dx.data(),
                              count_include_pad_);
  }

 private:
  bool count_include_pad_;
};

/// The mean of each channel: input (N, C, H, W), output (N, C), or (N, C, 1, 1) with `keep_dims`
/// (as PyTorch's AdaptiveAvgPool2d(1), before its Flatten).
template <typename T>
class GlobalAveragePooling2D : public Layer<T> {
 public:
  explicit GlobalAveragePooling2D(bool keep_dims = false) : keep_dims_(keep_dims) {}

  std::string type() const override { return "GlobalAveragePooling2D"; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 4 && input[2] > 0 && input[3] > 0, this->who(),
                      ": expected input (N, C, H, W), got ", input);
    return keep_dims_ ? Shape{input[0], input[1], 1, 1} : Shape{input[0], input[1]};
  }

  nlohmann::json config() const override { return {{"keep_dims", keep_dims_}}; }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    kernels::global_avgpool_forward(x.shape()[0] * x.shape()[1], x.shape()[2] * x.shape()[3], x.data(),
                                    y.data());
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    kernels::global_avgpool_backward(x.shape()[0] * x.shape()[1], x.shape()[2] * x.shape()[3], dy.data(),
                                     dx.data());
  }

 private:
  bool keep_dims_;
};

}  // namespace tinydl
