// Convolution as im2col + GEMM, per conv layer of the three Fashion-MNIST models at batch 64:
// forward = im2col_batch + gemm (bias in the epilogue); backward = weight gradient (dY * col^T),
// bias gradient, input gradient (W^T * dY) and col2im_batch. Reports images/s and GFLOP/s.
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
          {"deeper_cnn/conv4", Window2d{64, 14, 14, 3, 3, 1, 1, 1, 1}, 64}};
}

struct Buffers {
  std::vector<float> x, weight, bias, col, y, dweight, dbias, dx;
  explicit Buffers(const ConvLayer& l) {
    const Window2d& g = l.window;
    const std::size_t columns = batch * g.out_pixels();
    x.resize(batch * g.channels * g.in_h * g.in_w);
    weight.resize(l.out_channels * g.patch_size());
    bias.resize(l.out_channels);
    col.resize(g.patch_size() * columns);
    y.resize(l.out_channels * columns);
    dweight.resize(weight.size());
    dbias.resize(bias.size());
    dx.resize(x.size());
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (auto* v : {&x, &weight, &bias, &y})
      for (float& e : *v) e = dist(gen);
  }
};

double forward_flops(const ConvLayer& l) {
  return 2.0 * double(l.out_channels * batch * l.window.out_pixels() * l.window.patch_size());
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["images/s"] = benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void conv_forward(benchmark::State& state, const ConvLayer& l, int threads) {
  tinydl::set_num_threads(threads);
  Buffers b(l);
  const Window2d& g = l.window;
  const std::size_t columns = batch * g.out_pixels();
  for (auto _ : state) {
    im2col_batch(g, batch, b.x.data(), b.col.data());
    gemm(Trans::no, Trans::no, l.out_channels, columns, g.patch_size(), 1.0f, b.weight.data(), g.patch_size(),
         b.col.data(), columns, 0.0f, b.y.data(), columns, GemmEpilogue<float>{b.bias.data(), nullptr, true});
    benchmark::ClobberMemory();
  }
  set_counters(state, forward_flops(l));
}

void conv_backward(benchmark::State& state, const ConvLayer& l, int threads) {
  tinydl::set_num_threads(threads);
  Buffers b(l);
  const Window2d& g = l.window;
  const std::size_t columns = batch * g.out_pixels(), patch = g.patch_size();
  im2col_batch(g, batch, b.x.data(), b.col.data());  // kept from the forward pass in a real step
  for (auto _ : state) {
    gemm(Trans::no, Trans::yes, l.out_channels, patch, columns, 1.0f, b.y.data(), columns, b.col.data(), columns,
         0.0f, b.dweight.data(), patch);
    std::fill(b.dbias.begin(), b.dbias.end(), 0.0f);
    add_row_sums(l.out_channels, columns, b.y.data(), columns, b.dbias.data());
    gemm(Trans::yes, Trans::no, patch, columns, l.out_channels, 1.0f, b.weight.data(), patch, b.y.data(), columns,
         0.0f, b.col.data(), columns);
    std::fill(b.dx.begin(), b.dx.end(), 0.0f);
    col2im_batch(g, batch, b.col.data(), b.dx.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2 * forward_flops(l));
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("tinydl %s kernels: %s; conv layers at batch %zu\n", tinydl::version_string, isa_name(), batch);
  bench::register_fma_peak();
  for (const ConvLayer& l : layers())
    for (int threads : {1, 2}) {
      const std::string suffix = "/threads:" + std::to_string(threads);
      bench::register_real_time(
          "conv_forward/" + l.name + suffix, [l, threads](benchmark::State& s) { conv_forward(s, l, threads); },
          benchmark::kMillisecond);
      bench::register_real_time(
          "conv_backward/" + l.name + suffix, [l, threads](benchmark::State& s) { conv_backward(s, l, threads); },
          benchmark::kMillisecond);
    }
  return bench::run_benchmarks(argc, argv);
}
