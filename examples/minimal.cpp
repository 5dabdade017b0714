// The smallest tinydl program: a two-layer network learns which quadrant of the plane a point
// lies in, then reports its accuracy.
#include <tinydl/tinydl.hpp>

#include <cstdio>

int main() {
  using namespace tinydl;
  // 1,000 random points in [-1, 1]^2, labelled by quadrant: 0 to 3.
  const CounterRng rng(/*seed=*/1);
  Tensor<float> points(Shape{1000, 2});
  Tensor<std::int32_t> quadrant(Shape{1000});
  for (std::size_t i = 0; i < 1000; ++i) {
    const double x = 2 * rng.uniform(0, 2 * i) - 1, y = 2 * rng.uniform(0, 2 * i + 1) - 1;
    points[2 * i] = static_cast<float>(x);
    points[2 * i + 1] = static_cast<float>(y);
    quadrant[i] = (x < 0) + 2 * (y < 0);
  }
  const Dataset<float> data(points, quadrant);

  Sequential<float> model;
  model.add(Dense<float>(32)).add(ReLU<float>()).add(Dense<float>(4));
  model.build(Shape{2});
  model.compile(Adam<float>(1e-2));
  std::printf("%s", model.summary().c_str());

  FitOptions options;
  options.epochs = 20;
  options.batch_size = 32;
  options.validation_split = 0.2;
  options.verbose = 0;
  const History history = model.fit(data, options);
  const Evaluation result = model.evaluate(data);
  std::printf("tinydl %s, %d thread(s): %zu epochs, loss %.4f, accuracy %.1f%%\n", version_string, num_threads(),
              history.size(), result.loss, 100 * result.accuracy);
  return result.accuracy > 0.9 ? 0 : 1;
}
