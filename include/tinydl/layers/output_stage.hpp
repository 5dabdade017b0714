#pragma once
/// @file output_stage.hpp
/// `OutputStage<T>`: what the layers after a Conv2D or Dense layer do to its output in an
/// evaluation pass, folded into that layer's kernel so that no pass over the tensor is left:
///
///     y[c] = relu?(scale[c] * z[c] + shift[c])      per output channel c, z = W x (no bias)
///
/// It is built when a model runs an evaluation pass (`Sequential::forward` in `Mode::eval`):
/// the layer begins it with its bias (`Layer::begin_output_stage`: scale 1, shift b), each
/// following layer that can folds its own evaluation pass into it (`Layer::fold_into`), and the
/// layer's GEMM applies it to each output tile while the tile is in cache (the epilogue):
///
///     BatchNorm   y = s * x + t, s = gamma / sqrt(var + eps), t = beta - s * mean:
///                 scale <- s * scale, shift <- s * shift + t           (only before a ReLU)
///     ReLU        relu <- true
///     Dropout     nothing (the identity when not training)
///     MaxPool2D   pool <- its window, when the layer's kernel can pool its output planes while
///                 they are in cache (Conv2D); nothing folds after it but Dropout
///
/// This is BatchNorm folded into the convolution as inference engines do at load (ONNX Runtime,
/// oneDNN), applied as per-channel scales in the epilogue rather than to a copy of the weights,
/// so nothing goes stale when the weights change. The fold computes s and t in double; its
/// results differ from the unfused layers only by rounding (the product is scaled after the sum
/// instead of normalising the sum). A ReLU alone changes no bit.

#include <cstddef>

#include "tinydl/core/scratch.hpp"
#include "tinydl/layers/window_options.hpp"

namespace tinydl {

/// Per-channel affine map and optional ReLU applied by a layer's kernel to its output; see the
/// file comment.
template <typename T>
struct OutputStage {
  std::size_t channels = 0;
  AlignedBuffer<T> scale;  ///< `channels` values (1 until an affine map is composed)
  AlignedBuffer<T> shift;  ///< `channels` values
  bool scaled = false;     ///< whether a scale may differ from 1
  bool relu = false;
  bool can_pool = false;  ///< whether the layer's kernel can max-pool its output (Conv2D)
  bool pooled = false;    ///< a MaxPool2D is folded: pool_size, pool_stride, pool_padding
  Size2d pool_size = 1, pool_stride = 1, pool_padding = 0;

  /// Starts the stage of a layer with `channel_count` outputs and `bias` (null: no bias).
  void begin(std::size_t channel_count, const T* bias) {
    channels = channel_count;
    ensure_capacity(shift, channels);
    ensure_capacity(scale, channels);
    for (std::size_t c = 0; c < channels; ++c) {
      scale.data()[c] = T(1);
      shift.data()[c] = bias ? bias[c] : T(0);
    }
    scaled = relu = can_pool = pooled = false;
  }

  /// Composes y -> s * y + t on channel c after what the stage does so far (before any ReLU).
  void then_affine(std::size_t c, double s, double t) {
    T& sc = scale.data()[c];
    sc = static_cast<T>(s * static_cast<double>(sc));
    T& sh = shift.data()[c];
    sh = static_cast<T>(s * static_cast<double>(sh) + t);
    scaled = true;
  }

  /// The scales for the kernel's epilogue: null when all are 1.
  const T* scales() const { return scaled ? scale.data() : nullptr; }
};

}  // namespace tinydl
