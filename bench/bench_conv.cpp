// Convolution per conv layer of the four Fashion-MNIST models at batch 64, through the kernels
// Conv2D runs (kernels/conv2d.hpp): conv2d_forward (im2col + GEMM per image group, bias in the
// epilogue) and conv2d_backward (weight and bias gradients, and the input gradient except for a
// model's first layer, whose input gradient training skips). Reports images/s and GFLOP/s; im2col/
// times the column matrices alone (the part of a forward pass a direct convolution would skip).
#include <benchmark/benchmark.h>
#include <tinydl/tinydl.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "fma_peak.hpp"

namespace {

using namespace tinydl::kernels;

struct ConvLayer {
  std::string name;
  Window2d window;
  std::size_t out_channels;
};

constexpr std::size_t batch = 64;

std::vector<ConvLayer> layers() {
  //                                          C   H   W  kh kw sh sw ph pw
  return {{"basic_cnn/conv1", Window2d{1, 28, 28, 3, 3, 1, 1, 0, 0}, 32},
          {"basic_cnn/conv2", Window2d{32, 13, 13, 3, 3, 1, 1, 0, 0}, 64},
          {"deeper_cnn/conv1", Window2d{1, 28, 28, 3, 3, 1, 1, 1, 1}, 32},
          {"deeper_cnn/conv2", Window2d{32, 28, 28, 3, 3, 1, 1, 1, 1}, 32},
          {"deeper_cnn/conv3", Window2d{32, 14, 14, 3, 3, 1, 1, 1, 1}, 64},
          {"deeper_cnn/conv4", Window2d{64, 14, 14, 3, 3, 1, 1, 1, 1}, 64},
          {"resnet/conv1", Window2d{1, 28, 28, 3, 3, 1, 1, 1, 1}, 16},
          {"resnet/stage1", Window2d{16, 28, 28, 3, 3, 1, 1, 1, 1}, 16},
          {"resnet/stage2_down", Window2d{16, 28, 28, 3, 3, 2, 2, 1, 1}, 32},
          {"resnet/stage2", Window2d{32, 14, 14, 3, 3, 1, 1, 1, 1}, 32},
          {"resnet/stage3_down", Window2d{32, 14, 14, 3, 3, 2, 2, 1, 1}, 64},
          {"resnet/stage3", Window2d{64, 7, 7, 3, 3, 1, 1, 1, 1}, 64}};
}

struct Buffers {
  std::vector<float> x, weight, bias, y, dweight, dbias, dx;
  Conv2dScratch<float> scratch;
  explicit Buffers(const ConvLayer& l) {
    const Window2d& g = l.window;
    x.resize(batch * g.channels * g.in_h * g.in_w);
    weight.resize(l.out_channels * g.patch_size());
    bias.resize(l.out_channels);
    y.resize(batch * l.out_channels * g.out_pixels());
    dweight.resize(weight.size());
    dbias.resize(bias.size());
    dx.resize(x.size());
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (auto* v : {&x, &weight, &bias, &y})
      for (float& e : *v) e = dist(gen);
    conv2d_reserve(geometry(l), batch, scratch);
  }
  static Conv2dGeometry geometry(const ConvLayer& l) { return {l.window, l.out_channels}; }
};

/// A model's first layer: training needs no gradient of its input (the image).
bool first_layer(const ConvLayer& l) {
  return l.name.size() >= 6 && l.name.compare(l.name.size() - 6, 6, "/conv1") == 0;
}

double forward_flops(const ConvLayer& l) {
  return 2.0 * double(l.out_channels * batch * l.window.out_pixels() * l.window.patch_size());
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] =
      benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void conv_forward(benchmark::State& state, const ConvLayer& l, int threads) {
  tinydl::set_num_threads(threads);
  Buffers b(l);
  for (auto _ : state) {
    conv2d_forward(Buffers::geometry(l), batch, b.x.data(), b.weight.data(), b.bias.data(), b.y.data(),
                   b.scratch);
    benchmark::ClobberMemory();
  }
  set_counters(state, forward_flops(l));
}

void conv_backward(benchmark::State& state, const ConvLayer& l, int threads) {
  tinydl::set_num_threads(threads);
  Buffers b(l);
  float* dx = first_layer(l) ? nullptr : b.dx.data();
  for (auto _ : state) {
    conv2d_backward(Buffers::geometry(l), batch, b.x.data(), b.weight.data(), b.y.data(), b.dweight.data(),
                    b.dbias.data(), dx, b.scratch);
    benchmark::ClobberMemory();
  }
  set_counters(state, (dx ? 2 : 1) * forward_flops(l));
}

/// The column matrices alone: im2col of every image of the batch, spread over the threads as
/// conv2d_forward spreads them, each into its thread's buffer. Against conv_forward, the share of
/// a forward pass that goes to building the matrix a direct convolution would not build.
void im2col_only(benchmark::State& state, const ConvLayer& l, int threads) {
  tinydl::set_num_threads(threads);
  Buffers b(l);
  const Window2d& g = l.window;
  const std::size_t in_image = g.channels * g.in_h * g.in_w, columns = g.patch_size() * g.out_pixels();
  std::vector<float> col(static_cast<std::size_t>(threads) * columns);
  for (auto _ : state) {
    tinydl::parallel_for(batch, [&](std::size_t i, int thread) {
      im2col(g, b.x.data() + i * in_image, col.data() + static_cast<std::size_t>(thread) * columns,
             g.out_pixels());
    });
    benchmark::ClobberMemory();
  }
  state.counters["GB/s written"] = benchmark::Counter(double(batch * columns * sizeof(float)) / 1e9,
                                                      benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("tinydl %s kernels: %s; conv layers at batch %zu\n", tinydl::version_string, isa_name(), batch);
  bench::register_fma_peak();
  for (const ConvLayer& l : layers())
    for (int threads : {1, 2}) {
      const std::string suffix = "/threads:" + std::to_string(threads);
      bench::register_real_time(
          "conv_forward/" + l.name + suffix,
          [l, threads](benchmark::State& s) { conv_forward(s, l, threads); }, benchmark::kMillisecond);
      bench::register_real_time(
          "conv_backward/" + l.name + suffix,
          [l, threads](benchmark::State& s) { conv_backward(s, l, threads); }, benchmark::kMillisecond);
      bench::register_real_time(
          "im2col/" + l.name + suffix, [l, threads](benchmark::State& s) { im2col_only(s, l, threads); },
          benchmark::kMillisecond);
    }
  return bench::run_benchmarks(argc, argv);
}
