#pragma once
/// @file fused_forward.hpp
/// `forward_fused`: an evaluation pass through a chain of layers, fused where a kernel can do a
/// neighbour's work (output_stage.hpp). `Sequential` runs its layers through it, and `Residual`
/// the stacks inside a block, so a block's Conv2D -> BatchNorm -> ReLU is one GEMM epilogue too.

#include <cstddef>
#include <memory>
#include <vector>

#include "tinydl/core/tensor.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/layers/output_stage.hpp"

namespace tinydl {

/// Runs `x` through `layers` in evaluation mode: a Conv2D or Dense layer applies the BatchNorm,
/// ReLU, MaxPool2D and Dropout layers after it that fold into its output stage (its GEMM's
/// epilogue), writing straight into the last one's output, and layers that only reshape in
/// evaluation (Flatten, Dropout) hand their input on without a copy. `stages` holds one stage per
/// layer (reused between calls: no allocation). `output(k)` is the buffer for the output of layer
/// k - 1 (k = 1 .. layers.size()), shaped for x's batch; the last layer always writes its own.
/// Returns a view of the result. Same values as layer by layer, up to the rounding of a folded
/// BatchNorm.
template <typename T, typename Output>
TensorView<const T> forward_fused(const std::vector<std::unique_ptr<Layer<T>>>& layers,
                                  std::vector<OutputStage<T>>& stages, TensorView<const T> x,
                                  Output&& output) {
  if (stages.size() < layers.size()) stages.resize(layers.size());
  TensorView<const T> in = x;
  for (std::size_t i = 0; i < layers.size();) {
    Layer<T>& layer = *layers[i];
    OutputStage<T>& stage = stages[i];
    std::size_t next = i + 1;
    if (layer.begin_output_stage(stage)) {
      while (next < layers.size() && layers[next]->fold_into(stage)) ++next;
      const TensorView<T> out = output(next);
      layer.forward_with_stage(in, out, stage);
      in = out;
    } else if (layer.passes_through_in_eval() && next < layers.size()) {
      in = TensorView<const T>(in.data(), output(next).shape());
    } else {
      const TensorView<T> out = output(next);
      layer.forward(in, out, Mode::eval);
      in = out;
    }
    i = next;
  }
  return in;
}

}  // namespace tinydl
