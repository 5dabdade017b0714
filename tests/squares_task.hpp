#pragma once
// The small task of the model tests and the data-parallel tests (tests/distributed/): where a
// bright square sits in a 12x12 image, and a small CNN with every kind of layer that learns it.
#include <tinydl/tinydl.hpp>

#include <cstddef>
#include <cstdint>

namespace squares_task {

using namespace tinydl;

/// A small dataset of `n` images (1, 12, 12) whose class (of 4) is where a bright square sits,
/// so a small CNN can learn it. Pixels are uint8, scaled by 1/255 like Fashion-MNIST.
inline tinydl::Dataset<std::uint8_t> squares(std::size_t n, std::uint64_t seed) {
  Tensor<std::uint8_t> images(Shape{n, 1, 12, 12});
  Tensor<std::int32_t> labels(Shape{n});
  const CounterRng rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int32_t>(rng.below(4, 1, i));
    labels[i] = label;
    for (std::size_t p = 0; p < 144; ++p)
      images[i * 144 + p] = static_cast<std::uint8_t>(rng.below(60, 2, i * 144 + p));
    const std::size_t top = label < 2 ? 1 : 7, left = label % 2 ? 7 : 1;
    for (std::size_t r = top; r < top + 4; ++r)
      for (std::size_t c = left; c < left + 4; ++c) images[i * 144 + r * 12 + c] = 250;
  }
  return Dataset<std::uint8_t>(std::move(images), std::move(labels), 1.0 / 255);
}

/// A small CNN with every kind of layer: Conv2D, BatchNorm, ReLU, MaxPool2D, Dropout, Flatten, Dense.
inline tinydl::Sequential<float> small_cnn(std::uint64_t seed = 3, std::size_t first_filters = 8) {
  Sequential<float> model;
  model.add(Conv2D<float>(first_filters, 3, 1, Padding::same()))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(MaxPool2D<float>(2))
      .add(Dropout<float>(0.25))
      .add(Flatten<float>())
      .add(Dense<float>(16))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(Dropout<float>(0.5))
      .add(Dense<float>(4));
  model.build(Shape{1, 12, 12}, seed);
  model.compile(Adam<float>(3e-3));
  return model;
}

/// A small ResNet: Conv2D -> BatchNorm -> ReLU, an identity block (with a Dropout inside) and a
/// downsampling block with the automatic projection, each followed by a ReLU, then
/// GlobalAveragePooling2D -> Dense.
inline tinydl::Sequential<float> small_resnet(std::uint64_t seed = 3) {
  Sequential<float> model;
  Residual<float> identity, downsample;
  identity.add(Conv2D<float>(8, 3, 1, Padding::same(), false))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(Dropout<float>(0.2))
      .add(Conv2D<float>(8, 3, 1, Padding::same(), false))
      .add(BatchNorm<float>());
  downsample.add(Conv2D<float>(12, 3, 2, Padding(1), false))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(Conv2D<float>(12, 3, 1, Padding::same()));
  model.add(Conv2D<float>(8, 3, 1, Padding::same()))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(std::move(identity))
      .add(ReLU<float>())
      .add(std::move(downsample))
      .add(ReLU<float>())
      .add(GlobalAveragePooling2D<float>())
      .add(Dense<float>(4));
  model.build(Shape{1, 12, 12}, seed);
  model.compile(Adam<float>(3e-3));
  return model;
}

}  // namespace squares_task
