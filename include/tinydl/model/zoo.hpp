#pragma once
/// @file zoo.hpp
/// The three models of the Fashion-MNIST study (DESIGN.md), layer for layer the models of
/// `shared/anchors/torch_fmnist.py`, so their saved weights load into that script's
/// `torch.nn.Sequential` and back. Input (1, 28, 28) images scaled to [0, 1], 10 classes.
/// `init` initialises every Dense and Conv2D layer (He normal by default; `torch_default` draws
/// weights and biases as PyTorch does).

#include <string>

#include "tinydl/layers/activations.hpp"
#include "tinydl/layers/batchnorm.hpp"
#include "tinydl/layers/conv2d.hpp"
#include "tinydl/layers/dense.hpp"
#include "tinydl/layers/dropout.hpp"
#include "tinydl/layers/flatten.hpp"
#include "tinydl/layers/maxpool2d.hpp"
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

/// The model called `name` ("mlp", "basic_cnn", "deeper_cnn"); throws `ConfigError` otherwise.
template <typename T>
Sequential<T> by_name(const std::string& name, Initializer init = Initializer::he_normal) {
  if (name == "mlp") return mlp<T>(init);
  if (name == "basic_cnn") return basic_cnn<T>(init);
  if (name == "deeper_cnn") return deeper_cnn<T>(init);
  throw ConfigError("unknown model '" + name + "' (expected mlp, basic_cnn or deeper_cnn)");
}

}  // namespace tinydl::zoo
