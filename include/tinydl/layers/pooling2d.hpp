#pragma once
/// @file pooling2d.hpp
/// `Pooling2D<T>`: what MaxPool2D and AveragePooling2D share: a window `size` moved by `stride`
/// (0: the window size) over an image padded by `padding` on each side (at most half the
/// window), its checks, the output shape (floor mode, as PyTorch) and its config keys.

#include <string>

#include "tinydl/kernels/window.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/window_options.hpp"

namespace tinydl {

/// Base of the pooling layers over (N, C, H, W) inputs; output (N, C, OH, OW).
template <typename T>
class Pooling2D : public Layer<T> {
 public:
  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 4, this->who(), ": expected input (N, C, H, W), got ", input);
    check<ShapeError>(input[2] + 2 * padding_.h >= size_.h && input[3] + 2 * padding_.w >= size_.w,
                      this->who(), ": a ", size_.h, "x", size_.w, " window does not fit input ", input);
    const kernels::Window2d g = window(input);
    return Shape{input[0], input[1], g.out_h(), g.out_w()};
  }

  nlohmann::json config() const override {
    return {{"pool_size", size_.to_json()}, {"stride", stride_.to_json()}, {"padding", padding_.to_json()}};
  }

 protected:
  /// `who` names the layer type in the errors of a bad window.
  Pooling2D(const char* who, Size2d size, Size2d stride, Size2d padding)
      : size_(size), stride_(stride.h == 0 || stride.w == 0 ? size : stride), padding_(padding) {
    check<ConfigError>(size.h > 0 && size.w > 0, who, ": size must be at least 1x1, got ", size.h, "x",
                       size.w);
    check<ConfigError>(2 * padding.h <= size.h && 2 * padding.w <= size.w, who,
                       ": padding must be at most half the window, got padding ", padding.h, "x", padding.w,
                       " for a ", size.h, "x", size.w, " window");
  }

  kernels::Window2d window(const Shape& input) const { return make_window(input, size_, stride_, padding_); }

  Size2d size_, stride_, padding_;
};

}  // namespace tinydl
