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
#include "tinydl/layers/pooling2d.hpp"

namespace tinydl {

/// Max pooling over `size` windows moved by `stride` (default: the window size), with optional
/// padding (padded positions never win). Input (N, C, H, W), output (N, C, OH, OW).
template <typename T>
class MaxPool2D : public Pooling2D<T> {
 public:
  /// `MaxPool2D<float>(2)`: 2x2 windows, stride 2. A stride of 0 means "the window size".
  explicit MaxPool2D(Size2d size, Size2d stride = 0, Size2d padding = 0)
      : Pooling2D<T>("MaxPool2D", size, stride, padding) {}

  std::string type() const override { return "MaxPool2D"; }

  void reserve(std::size_t max_batch) override {
    check<Error>(this->built(), this->who(), ": reserve before build()");
    ensure_capacity(argmax_, this->output_shape(this->input_.with_batch(max_batch)).numel());
  }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    ensure_capacity(argmax_, y.size());
    kernels::maxpool_forward(this->window(x.shape()), x.shape()[0] * x.shape()[1], x.data(), y.data(),
                             argmax_.data());
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    kernels::maxpool_backward(this->window(x.shape()), x.shape()[0] * x.shape()[1], dy.data(), argmax_.data(),
                              dx.data());
  }

  bool absorbs_relu_backward() const override { return true; }

  /// Folds into the output stage of a Conv2D before it: the convolution pools each image group's
  /// output while it is in cache (the same values: pooling only selects).
  bool fold_into(OutputStage<T>& stage) const override {
    if (!stage.can_pool || stage.pooled) return false;
    stage.pooled = true;
    stage.pool_size = this->size_;
    stage.pool_stride = this->stride_;
    stage.pool_padding = this->padding_;
    return true;
  }

  void backward_through_relu_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                                  TensorView<T> dx) override {
    kernels::maxpool_backward(this->window(x.shape()), x.shape()[0] * x.shape()[1], dy.data(), argmax_.data(),
                              dx.data(), y.data());
  }

 private:
  AlignedBuffer<std::int32_t> argmax_;
};

}  // namespace tinydl
