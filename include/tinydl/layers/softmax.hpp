#pragma once
/// @file softmax.hpp
/// `Softmax`: probabilities over the features of each item (PyTorch's `nn.Softmax(dim=1)` on
/// (N, C) input). For training, prefer logits and `SoftmaxCrossEntropy`, which fuses the two stably.
///
///     forward    y_j = exp(x_j) / sum_k exp(x_k)
///     backward   dx_j = y_j * (dy_j - sum_k dy_k y_k)

#include <string>

#include "tinydl/kernels/softmax.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Softmax over axis 1 of (N, C) input.
template <typename T>
class Softmax : public Layer<T> {
 public:
  std::string type() const override { return "Softmax"; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 2, this->who(), ": expected input (N, classes), got ", input);
    return input;
  }

  nlohmann::json config() const override { return nlohmann::json::object(); }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    kernels::softmax_rows(x.shape()[0], x.shape()[1], x.data(), y.data());
  }

  void backward_impl(TensorView<const T>, TensorView<const T> y, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    kernels::softmax_backward_rows(y.shape()[0], y.shape()[1], y.data(), dy.data(), dx.data());
  }
};

}  // namespace tinydl
