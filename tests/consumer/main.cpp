// A consumer's program: includes the umbrella header, uses the library, checks one result.
#include <tinydl/tinydl.hpp>

#include <cstdio>

int main() {
  tinydl::Tensor<float> x(tinydl::Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  float sum = 0;
  for (float v : x) sum += v;
  try {
    x.reshape(tinydl::Shape{4, 2});
    std::puts("consumer: expected a ShapeError");
    return 1;
  } catch (const tinydl::ShapeError&) {
  }
  std::printf("consumer: tinydl %s, sum %.1f, %d thread(s)\n", tinydl::version_string, sum,
              tinydl::num_threads());
  return sum == 21.0f ? 0 : 1;
}
