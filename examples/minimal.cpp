// The smallest tinydl program: a small network learns which quadrant of the plane a point is in.
#include <tinydl/tinydl.hpp>

#include <cstdio>

int main() try {
  using namespace tinydl;
  Tensor<float> points(Shape{1000, 2});        // random points in [-1, 1)^2 ...
  Tensor<std::int32_t> quadrant(Shape{1000});  // ... labelled 0 to 3 by quadrant
  for (std::size_t i = 0; i < points.size(); ++i) points[i] = float(2 * CounterRng(1).uniform(0, i) - 1);
  for (std::size_t i = 0; i < 1000; ++i) quadrant[i] = (points[2 * i] < 0) + 2 * (points[2 * i + 1] < 0);

  Sequential<float> model;
  model.add(Dense<float>(32)).add(ReLU<float>()).add(Dense<float>(4));
  model.build(Shape{2});
  model.compile(Adam<float>(1e-2));
  FitOptions options;
  options.epochs = 20;
  options.verbose = 0;
  model.fit(Dataset<float>(points, quadrant), options);

  const Evaluation result = model.evaluate(Dataset<float>(points, quadrant));
  std::printf("tinydl %s: accuracy %.1f%% after %zu epochs\n", version_string, 100 * result.accuracy,
              options.epochs);
  return result.accuracy > 0.9 ? 0 : 1;
} catch (const std::exception& e) {  // a tinydl::Error says what went wrong, in one line
  std::fprintf(stderr, "minimal: %s\n", e.what());
  return 1;
}
