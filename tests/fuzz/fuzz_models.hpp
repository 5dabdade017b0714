#pragma once
// The models of the model-loading fuzzer and its seed corpus: small, but with a layer of each
// kind that has parameters, state or counters (Conv2D, BatchNorm, Dropout, Dense), so their files
// hold everything a file can.
#include <tinydl/tinydl.hpp>

namespace fuzz {

/// Conv2D -> BatchNorm -> ReLU -> MaxPool2D -> Dropout -> Flatten -> Dense, on 1x6x6 inputs.
inline tinydl::Sequential<float> corpus_model() {
  using namespace tinydl;
  Sequential<float> model;
  model.add(Conv2D<float>(2, 3, 1, Padding::same()))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(MaxPool2D<float>(2))
      .add(Dropout<float>(0.25))
      .add(Flatten<float>())
      .add(Dense<float>(3));
  model.build(Shape{1, 6, 6}, 1);
  return model;
}

/// The corpus model compiled with Adam after two training steps: optimizer state, an epoch
/// count and a dropout step to save.
inline tinydl::Sequential<float> trained_corpus_model() {
  using namespace tinydl;
  Sequential<float> model = corpus_model();
  model.compile(Adam<float>(1e-2));
  Tensor<float> x(Shape{4, 1, 6, 6});
  Tensor<std::int32_t> y(Shape{4});
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) / 7;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = static_cast<std::int32_t>(i % 3);
  for (int step = 0; step < 2; ++step) model.train_on_batch(x.view(), y.view());
  model.set_epochs_completed(1);
  return model;
}

}  // namespace fuzz
