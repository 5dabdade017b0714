#pragma once
/// @file zoo.hpp
/// The models of the Fashion-MNIST study: the three of DESIGN.md, layer for layer the models of
/// `shared/anchors/torch_fmnist.py`, so their saved weights load into that script's
/// `torch.nn.Sequential` and back, and a small ResNet (its PyTorch form, with the same names, is in
/// `bench/torch_resnet.py`). Input (1, 28, 28) images scaled to [0, 1], 10 classes.
/// `init` initialises every Dense and Conv2D layer (He normal by default; `torch_default` draws
/// weights and biases as PyTorch does).

#include <string>
#include <vector>

#include "tinydl/layers/activations.hpp"
#include "tinydl/layers/avgpool2d.hpp"
#include "tinydl/layers/batchnorm.hpp"
#include "tinydl/layers/conv2d.hpp"
#include "tinydl/layers/dense.hpp"
#include "tinydl/layers/dropout.hpp"
#include "tinydl/layers/flatten.hpp"
#include "tinydl/layers/maxpool2d.hpp"
#include "tinydl/layers/residual.hpp"
#include "tinydl/model/sequential.hpp"

namespace tinydl::zoo {

/// Flatten -> Dense 256 -> ReLU -> Dense 128 -> ReLU -> Dense 10 (235,146 parameters).
template <typename T>
Sequential<T> mlp(Initializer init = Initializer::he_normal, std::size_t classes = 10) {
  Sequential<T> model;
  model.add(Flatten<T>())
      .add(Dense<T>(256, true, init))
      .add(ReLU<T>())
      .add(Dense<T>(128, true, init))
      .add(ReLU<T>())
      .add(Dense<T>(classes, true, init));
  return model;
}

/// Conv 32 3x3 -> ReLU -> MaxPool 2 -> Conv 64 3x3 -> ReLU -> MaxPool 2 -> Flatten -> Dense 128 ->
/// ReLU -> Dense 10 (225,034 parameters on 28x28 input).
template <typename T>
Sequential<T> basic_cnn(Initializer init = Initializer::he_normal, std::size_t classes = 10) {
  Sequential<T> model;
  model.add(Conv2D<T>(32, 3, 1, Padding::valid(), true, init))
      .add(ReLU<T>())
      .add(MaxPool2D<T>(2))
      .add(Conv2D<T>(64, 3, 1, Padding::valid(), true, init))
      .add(ReLU<T>())
      .add(MaxPool2D<T>(2))
      .add(Flatten<T>())
      .add(Dense<T>(128, true, init))
      .add(ReLU<T>())
      .add(Dense<T>(classes, true, init));
  return model;
}

/// [Conv 32 3x3 same -> BatchNorm -> ReLU] x2 -> MaxPool 2 -> Dropout -> [Conv 64 3x3 same ->
/// BatchNorm -> ReLU] x2 -> MaxPool 2 -> Dropout -> Flatten -> Dense 256 -> BatchNorm -> ReLU ->
/// Dropout -> Dense 10. Dropout rates 0.25, 0.25, 0.5 times `dropout_scale` (0 for the
/// deterministic PyTorch parity check).
template <typename T>
Sequential<T> deeper_cnn(Initializer init = Initializer::he_normal, double dropout_scale = 1.0,
                         std::size_t classes = 10) {
  Sequential<T> model;
  for (std::size_t filters : {32u, 64u}) {
    for (int repeat = 0; repeat < 2; ++repeat)
      model.add(Conv2D<T>(filters, 3, 1, Padding::same(), true, init)).add(BatchNorm<T>()).add(ReLU<T>());
    model.add(MaxPool2D<T>(2)).add(Dropout<T>(0.25 * dropout_scale));
  }
  model.add(Flatten<T>())
      .add(Dense<T>(256, true, init))
      .add(BatchNorm<T>())
      .add(ReLU<T>())
      .add(Dropout<T>(0.5 * dropout_scale))
      .add(Dense<T>(classes, true, init));
  return model;
}

/// A ResNet block: [Conv 3x3 (stride `stride`) -> BatchNorm -> ReLU -> Conv 3x3 -> BatchNorm] plus
/// the input, or, when the block downsamples, plus Conv 1x1 stride 2 -> BatchNorm of it (He et
/// al.'s option B). Convolutions before a BatchNorm have no bias: its shift would cancel it.
template <typename T>
Residual<T> resnet_block(std::size_t filters, std::size_t stride, Initializer init = Initializer::he_normal) {
  Residual<T> block;
  block.add(Conv2D<T>(filters, 3, stride, Padding(1), false, init))
      .add(BatchNorm<T>())
      .add(ReLU<T>())
      .add(Conv2D<T>(filters, 3, 1, Padding(1), false, init))
      .add(BatchNorm<T>());
  if (stride != 1)
    block.add_shortcut(Conv2D<T>(filters, 1, stride, Padding::valid(), false, init))
        .add_shortcut(BatchNorm<T>());
  return block;
}

/// A small ResNet for 28x28 images, deeper than deeper_cnn (14 weight layers against 6):
/// Conv 16 3x3 same -> BatchNorm -> ReLU, then three stages of two residual blocks, each block
/// followed by a ReLU: 16 channels at 28x28, 32 at 14x14 and 64 at 7x7 (the first block of a stage
/// downsamples with stride 2 and a projection), then GlobalAveragePooling2D -> Dense 10
/// (175,258 parameters, 1,792 running statistics). About as many FLOP per image as deeper_cnn.
template <typename T>
Sequential<T> resnet(Initializer init = Initializer::he_normal, std::size_t classes = 10) {
  Sequential<T> model;
  model.add(Conv2D<T>(16, 3, 1, Padding::same(), false, init)).add(BatchNorm<T>()).add(ReLU<T>());
  std::size_t filters = 16;
  for (int stage = 0; stage < 3; ++stage) {
    for (int block = 0; block < 2; ++block)
      model.add(resnet_block<T>(filters, stage > 0 && block == 0 ? 2 : 1, init)).add(ReLU<T>());
    filters *= 2;
  }
  model.add(GlobalAveragePooling2D<T>()).add(Dense<T>(classes, true, init));
  return model;
}

/// The names `by_name` knows, in the study's order.
inline const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names{"mlp", "basic_cnn", "deeper_cnn", "resnet"};
  return names;
}

/// The model called `name` (one of `model_names()`); throws `ConfigError` otherwise.
template <typename T>
Sequential<T> by_name(const std::string& name, Initializer init = Initializer::he_normal) {
  if (name == "mlp") return mlp<T>(init);
  if (name == "basic_cnn") return basic_cnn<T>(init);
  if (name == "deeper_cnn") return deeper_cnn<T>(init);
  if (name == "resnet") return resnet<T>(init);
  throw ConfigError("unknown model '" + name + "' (expected mlp, basic_cnn, deeper_cnn or resnet)");
}

}  // namespace tinydl::zoo
