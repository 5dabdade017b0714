// GEMM throughput: tinydl against Eigen, OpenBLAS and oneDNN on the same shapes, 1 and 2 threads.
// Shapes: squares, and the products of the three Fashion-MNIST models at batch 64 (M x N x K):
// each conv layer's forward (W * col), weight gradient (dY * col^T) and input gradient
// (W^T * dY), and the dense layers' forward and backward. See bench/README.md.
#include <benchmark/benchmark.h>
#include <tinydl/tinydl.hpp>

#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "fma_peak.hpp"
#include "gemm_baselines.hpp"

namespace {

using tinydl::kernels::Trans;

struct GemmShape {
  std::string name;
  bool trans_a, trans_b;
  std::size_t m, n, k;
};

std::vector<GemmShape> shapes() {
  std::vector<GemmShape> s;
  for (std::size_t n : {256, 512, 1024, 2048}) s.push_back({"square", false, false, n, n, n});
  // conv layers at batch 64: forward W[M x K] * col[K x N]; backward dW = dY * col^T, dcol = W^T * dY
  struct Conv {
    const char* layer;
    std::size_t out_channels, pixels, patch;
  };
  for (const Conv& c : {Conv{"conv1_1x28x28", 32, 64 * 676, 9}, Conv{"basic_conv2", 64, 64 * 121, 288},
                        Conv{"deeper_conv2", 32, 64 * 784, 288}, Conv{"deeper_conv4", 64, 64 * 196, 576}}) {
    s.push_back({std::string(c.layer) + "_fwd", false, false, c.out_channels, c.pixels, c.patch});
    s.push_back({std::string(c.layer) + "_dweight", false, true, c.out_channels, c.patch, c.pixels});
    s.push_back({std::string(c.layer) + "_dinput", true, false, c.patch, c.pixels, c.out_channels});
  }
  // dense layers at batch 64: forward X[64 x in] * W^T; dW = dY^T * X; dX = dY * W
  struct Dense {
    const char* layer;
    std::size_t in, out;
  };
  for (const Dense& d : {Dense{"dense_784_256", 784, 256}, Dense{"dense_3136_256", 3136, 256},
                         Dense{"dense_1600_128", 1600, 128}}) {
    s.push_back({std::string(d.layer) + "_fwd", false, true, 64, d.out, d.in});
    s.push_back({std::string(d.layer) + "_dweight", true, false, d.out, d.in, 64});
    s.push_back({std::string(d.layer) + "_dinput", false, false, 64, d.in, d.out});
  }
  return s;
}

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const GemmShape& s) : a(s.m * s.k), b(s.k * s.n), c(s.m * s.n) {
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> dist(-1, 1);
    for (float& x : a) x = dist(gen);
    for (float& x : b) x = dist(gen);
  }
};

void set_flops(benchmark::State& state, const GemmShape& s) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(s.m * s.n * s.k) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void tinydl_gemm(benchmark::State& state, const GemmShape& s, int threads) {
  tinydl::set_num_threads(threads);
  Operands op(s);
  for (auto _ : state) {
    tinydl::kernels::gemm(s.trans_a ? Trans::yes : Trans::no, s.trans_b ? Trans::yes : Trans::no, s.m, s.n,
                          s.k, 1.0f, op.a.data(), s.trans_a ? s.m : s.k, op.b.data(), s.trans_b ? s.k : s.n,
                          0.0f, op.c.data(), s.n);
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

void baseline_gemm(benchmark::State& state, const baseline::Library& lib, const GemmShape& s, int threads) {
  tinydl::set_num_threads(threads);  // OpenMP-based libraries (Eigen, oneDNN) follow this
  lib.set_threads(threads);
  Operands op(s);
  for (auto _ : state) {
    lib.sgemm(s.trans_a, s.trans_b, s.m, s.n, s.k, op.a.data(), op.b.data(), op.c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, s);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("tinydl %s kernels: %s, micro-tile %zux%zu; baselines: %s\n", tinydl::version_string,
              tinydl::kernels::isa_name(), tinydl::kernels::MicroTile<float>::mr,
              tinydl::kernels::MicroTile<float>::nr, baseline::describe().c_str());
  bench::register_fma_peak();
  const auto libs = baseline::libraries();
  for (const GemmShape& s : shapes()) {
    const std::string dims = std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
                             (s.trans_a ? "_T" : "_N") + (s.trans_b ? "T" : "N");
    for (int threads : {1, 2}) {
      const std::string suffix = "/threads:" + std::to_string(threads);
      bench::register_real_time(
          "gemm/" + s.name + "/" + dims + "/tinydl" + suffix,
          [s, threads](benchmark::State& st) { tinydl_gemm(st, s, threads); }, benchmark::kMicrosecond);
      for (const baseline::Library& lib : libs)
        bench::register_real_time(
            "gemm/" + s.name + "/" + dims + "/" + lib.name + suffix,
            [lib, s, threads](benchmark::State& st) { baseline_gemm(st, lib, s, threads); },
            benchmark::kMicrosecond);
    }
  }
  return bench::run_benchmarks(argc, argv);
}
