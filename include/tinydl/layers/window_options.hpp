#pragma once
/// @file window_options.hpp
/// The options of windowed layers (Conv2D, MaxPool2D): `Size2d` for kernel sizes and strides, and
/// `Padding`, with their forms in layer configs.

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

#include "tinydl/core/error.hpp"
#include "tinydl/core/shape.hpp"
#include "tinydl/kernels/window.hpp"

namespace tinydl {

/// True for a JSON integer >= 0 (parsed text gives unsigned numbers, literals in code signed ones).
inline bool is_json_count(const nlohmann::json& j) {
  return j.is_number_unsigned() || (j.is_number_integer() && j.get<long long>() >= 0);
}

/// A (height, width) pair; a single number means the same for both: `3` is 3x3.
struct Size2d {
  std::size_t h = 1, w = 1;

  Size2d(std::size_t both) : h(both), w(both) {}  // NOLINT: implicit on purpose, Conv2D(32, 3)
  Size2d(std::size_t height, std::size_t width) : h(height), w(width) {}

  friend bool operator==(const Size2d& a, const Size2d& b) { return a.h == b.h && a.w == b.w; }

  nlohmann::json to_json() const { return {h, w}; }

  /// From a config: `3` or `[3, 5]`. Throws `ConfigError` naming `what` otherwise.
  static Size2d from_json(const nlohmann::json& j, const char* what) {
    if (is_json_count(j)) return Size2d(j.get<std::size_t>());
    check<ConfigError>(j.is_array() && j.size() == 2 && is_json_count(j[0]) && is_json_count(j[1]), what,
                       ": expected a non-negative integer or [height, width], got ", j.dump());
    return Size2d(j[0].get<std::size_t>(), j[1].get<std::size_t>());
  }
};

/// Zero padding around the input of a windowed layer: `Padding::valid()` (none), `Padding::same()`
/// (output as large as the input; stride 1 and odd kernels, as PyTorch allows), or explicit rows
/// and columns added on each side: `Padding(1)`, `Padding(1, 2)`.
class Padding {
 public:
  static Padding valid() { return Padding(0, 0); }
  static Padding same() {
    Padding p(0, 0);
    p.same_ = true;
    return p;
  }
  Padding(std::size_t both) : rows_(both), cols_(both) {}  // NOLINT: implicit on purpose, padding = 1
  Padding(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols) {}

  bool is_same() const { return same_; }

  /// The padding per side for `kernel` and `stride`; `who` names the layer in errors.
  Size2d resolve(const Size2d& kernel, const Size2d& stride, const std::string& who) const {
    if (!same_) return Size2d(rows_, cols_);
    check<ConfigError>(stride.h == 1 && stride.w == 1, who, ": padding 'same' needs stride 1, got stride ",
                       stride.h, "x", stride.w);
    check<ConfigError>(kernel.h % 2 == 1 && kernel.w % 2 == 1, who,
                       ": padding 'same' needs an odd kernel size, got ", kernel.h, "x", kernel.w);
    return Size2d(kernel.h / 2, kernel.w / 2);
  }

  /// "valid", "same", or [rows, cols].
  nlohmann::json to_json() const {
    if (same_) return "same";
    if (rows_ == 0 && cols_ == 0) return "valid";
    return {rows_, cols_};
  }

  static Padding from_json(const nlohmann::json& j) {
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      if (s == "valid") return valid();
      if (s == "same") return same();
      throw ConfigError("padding: expected \"valid\", \"same\" or [rows, cols], got \"" + s + "\"");
    }
    const Size2d size = Size2d::from_json(j, "padding");
    return Padding(size.h, size.w);
  }

 private:
  std::size_t rows_ = 0, cols_ = 0;
  bool same_ = false;
};

/// The window geometry of a layer with this kernel, stride and padding over one image of a batch
/// `input` (N, C, H, W).
inline kernels::Window2d make_window(const Shape& input, const Size2d& kernel, const Size2d& stride,
                                     const Size2d& padding) {
  kernels::Window2d g;
  g.channels = input[1];
  g.in_h = input[2];
  g.in_w = input[3];
  g.kernel_h = kernel.h;
  g.kernel_w = kernel.w;
  g.stride_h = stride.h;
  g.stride_w = stride.w;
  g.pad_h = padding.h;
  g.pad_w = padding.w;
  return g;
}

}  // namespace tinydl
