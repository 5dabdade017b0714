#pragma once
/// @file flatten.hpp
/// `Flatten`: (N, C, H, W) -> (N, C*H*W), row-major, as PyTorch's `nn.Flatten`. The data does not
/// change order, so forward and backward are copies.

#include <algorithm>
#include <string>

#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Flattens every item of a batch into one feature vector.
template <typename T>
class Flatten : public Layer<T> {
 public:
  std::string type() const override { return "Flatten"; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() >= 2, this->who(), ": expected input with a batch axis and features, got ",
                      input);
    return Shape{input[0], input.item_numel()};
  }

  nlohmann::json config() const override { return nlohmann::json::object(); }

  /// The values stay as they are (NCHW order is already the flattened order).
  bool passes_through_in_eval() const override { return true; }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    std::copy(x.begin(), x.end(), y.begin());
  }

  void backward_impl(TensorView<const T>, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (dx.data()) std::copy(dy.begin(), dy.end(), dx.begin());
  }
};

}  // namespace tinydl
