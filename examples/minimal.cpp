// The smallest tinydl program: make a weight tensor, initialise it the way a Dense(256) layer
// after a 784-pixel input would be (He normal), and look at it.
#include <tinydl/tinydl.hpp>

#include <cmath>
#include <cstdio>

int main() {
  using namespace tinydl;
  Tensor<float> weight(Shape{256, 784});  // PyTorch layout: [out_features, in_features]
  he_normal(weight.view(), /*fan_in=*/784, CounterRng(/*seed=*/42), /*stream=*/0);

  double sum = 0, sum_sq = 0;
  for (float w : weight) {
    sum += w;
    sum_sq += double(w) * w;
  }
  const double mean = sum / double(weight.size());
  const double std = std::sqrt(sum_sq / double(weight.size()) - mean * mean);
  std::printf("tinydl %s: weight %s, mean %+.4f, std %.4f (He: sqrt(2/784) = %.4f), %d thread(s)\n",
              version_string, weight.shape().to_string().c_str(), mean, std, std::sqrt(2.0 / 784),
              num_threads());
}
