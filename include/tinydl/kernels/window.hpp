#pragma once
/// @file window.hpp
/// `Window2d`: the geometry of a sliding window over a (channels, height, width) image — a
/// convolution's or a pooling layer's kernel size, stride and zero padding — and the output size
/// it gives:  out = (in + 2 * pad - kernel) / stride + 1   (floor division, as in PyTorch).

#include <algorithm>
#include <cstddef>

#include "tinydl/core/error.hpp"

namespace tinydl::kernels {

/// A kernel_h x kernel_w window sliding with stride (stride_h, stride_w) over an image padded
/// with pad_h rows on top and bottom and pad_w columns left and right.
struct Window2d {
  /// A half-open range [begin, end) of input rows or columns.
  struct Span {
    std::size_t begin, end;
  };

  std::size_t channels = 1, in_h = 1, in_w = 1;
  std::size_t kernel_h = 1, kernel_w = 1;
  std::size_t stride_h = 1, stride_w = 1;
  std::size_t pad_h = 0, pad_w = 0;

  std::size_t out_h() const { return (in_h + 2 * pad_h - kernel_h) / stride_h + 1; }
  std::size_t out_w() const { return (in_w + 2 * pad_w - kernel_w) / stride_w + 1; }
  /// Pixels of one output plane: the columns of an image's im2col matrix.
  std::size_t out_pixels() const { return out_h() * out_w(); }
  /// channels * kernel_h * kernel_w: the rows of an image's im2col matrix.
  std::size_t patch_size() const { return channels * kernel_h * kernel_w; }

  /// The input rows [begin, end) that output row `oh`'s window covers inside the image (padding
  /// excluded); `cols_inside` likewise for output column `ow`. Empty when the window lies in padding.
  Span rows_inside(std::size_t oh) const { return inside(oh * stride_h, pad_h, kernel_h, in_h); }
  Span cols_inside(std::size_t ow) const { return inside(ow * stride_w, pad_w, kernel_w, in_w); }

  /// Throws `ConfigError` naming `who` if the window is empty, has a zero stride, or does not fit
  /// in the padded image.
  void validate(const char* who) const {
    check<ConfigError>(channels > 0 && in_h > 0 && in_w > 0, who, ": empty input (", channels, ", ", in_h,
                       ", ", in_w, ")");
    check<ConfigError>(kernel_h > 0 && kernel_w > 0, who, ": kernel must be at least 1x1, got ", kernel_h,
                       "x", kernel_w);
    check<ConfigError>(stride_h > 0 && stride_w > 0, who, ": stride must be at least 1, got ", stride_h, "x",
                       stride_w);
    check<ConfigError>(in_h + 2 * pad_h >= kernel_h && in_w + 2 * pad_w >= kernel_w, who, ": a ", kernel_h,
                       "x", kernel_w, " kernel does not fit a ", in_h, "x", in_w, " input padded by (", pad_h,
                       ", ", pad_w, ")");
  }

 private:
  /// A window starting at `start` (padded coordinates) of `kernel` values, over `in` values padded by `pad`.
  static Span inside(std::size_t start, std::size_t pad, std::size_t kernel, std::size_t in) {
    const std::size_t begin = start < pad ? 0 : start - pad;
    const std::size_t end = start + kernel <= pad ? 0 : std::min(in, start + kernel - pad);
    return {begin, end < begin ? begin : end};
  }
};

}  // namespace tinydl::kernels
