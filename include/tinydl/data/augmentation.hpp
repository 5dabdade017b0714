#pragma once
/// @file augmentation.hpp
/// `ImageAugmentation`: random shifts and horizontal flips of training images (C, H, W), drawn
/// from (seed, epoch, example) alone, so a training run stays bit-identical for any thread count
/// and process count, and a resumed run sees the images an unbroken one would:
///
///     shift   out[c][y][x] = in[c][y - dy][x - dx], zero outside the image, dy and dx uniform in
///             [-max_shift, max_shift] (torchvision's RandomCrop(size, padding = max_shift))
///     flip    with probability 1/2, out[c][y][x] = out[c][y][W - 1 - x]   (after the shift)
///
/// The draws of example i in epoch e are words 0, 1, 2 of stream `augment + (e << 32)`, index i
/// (its index in the dataset, not in the batch). Evaluation never augments.

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "tinydl/core/error.hpp"
#include "tinydl/core/rng.hpp"

namespace tinydl {

/// What to do to each training image; the default does nothing.
struct ImageAugmentation {
  std::size_t max_shift = 0;     ///< shift by up to this many pixels each way (0: none)
  bool horizontal_flip = false;  ///< mirror left-right half of the time

  bool enabled() const { return max_shift > 0 || horizontal_flip; }

  /// Transforms one image (channels, height, width) in place; `scratch` holds one image.
  template <typename T>
  void apply(T* image, std::size_t channels, std::size_t height, std::size_t width, const CounterRng& rng,
             std::size_t epoch, std::size_t example, T* scratch) const {
    const std::uint64_t stream =
        static_cast<std::uint64_t>(RngStream::augment) | (std::uint64_t{epoch} << 32);
    const std::uint64_t base = 3 * static_cast<std::uint64_t>(example);
    const long span = static_cast<long>(2 * max_shift + 1), shift = static_cast<long>(max_shift);
    const long dy =
        max_shift ? static_cast<long>(rng.below(static_cast<std::uint64_t>(span), stream, base)) - shift : 0;
    const long dx =
        max_shift ? static_cast<long>(rng.below(static_cast<std::uint64_t>(span), stream, base + 1)) - shift
                  : 0;
    const bool flip = horizontal_flip && rng.below(2, stream, base + 2) == 1;
    if (dy == 0 && dx == 0 && !flip) return;
    const std::size_t plane = height * width;
    std::copy(image, image + channels * plane, scratch);
    const long h = static_cast<long>(height), w = static_cast<long>(width);
    for (std::size_t c = 0; c < channels; ++c)
      for (long y = 0; y < h; ++y)
        for (long x = 0; x < w; ++x) {
          const long sy = y - dy, sx = (flip ? w - 1 - x : x) - dx;  // where out[y][x] comes from
          image[c * plane + static_cast<std::size_t>(y * w + x)] =
              sy < 0 || sy >= h || sx < 0 || sx >= w
                  ? T(0)
                  : scratch[c * plane + static_cast<std::size_t>(sy * w + sx)];
        }
  }
};

}  // namespace tinydl
