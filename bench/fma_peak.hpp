#pragma once
// The machine's measured FP32 FMA peak, as a benchmark to run beside the kernels: the machine is
// shared and its clock moves, so "% of peak" only means something against a peak measured in
// the same run.
#include <benchmark/benchmark.h>
#include <tinydl/tinydl.hpp>

#include <chrono>
#include <cstddef>
#include <string>

#include "registration.hpp"

namespace bench {

/// Runs `steps` rounds of independent FMA chains (16 with AVX-512, 12 with AVX2: see below) on
/// each of `threads` threads, no memory traffic; returns the flops done (2 * width * chains *
/// steps * threads), or 0 in a build without SIMD FMA. With `with_adds`, each round also runs
/// independent add chains, which cores with separate floating-point add pipes (Zen) execute
/// beside the FMAs: a higher "peak" that a GEMM cannot use, since each of its multiply-adds
/// needs a multiply.
inline double run_fma_chains(int threads, std::size_t steps, bool with_adds = false) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  using V = tinydl::kernels::Simd<float>;
  // Every chain lives in a register: 16 of AVX-512's 32, 12 of AVX2's 16 (16 there spilled to
  // the stack, and a Zen 2 core measured 60 GFLOP/s where its GEMMs run at 95). 12 chains still
  // cover the FMA latency (4-5 cycles) times two FMA pipes on every x86 core.
#if defined(__AVX512F__)
  constexpr std::size_t chains = 16, add_chains = 12;
#else
  constexpr std::size_t chains = 12, add_chains = 2;
#endif
  float result = 0;
#pragma omp parallel num_threads(threads) reduction(+ : result)
  {
    typename V::Reg acc[chains], sum[add_chains];
    for (std::size_t i = 0; i < chains; ++i)
      acc[i] = V::set1(float(i) * 1e-3f);  // distinct: no merged chains
    for (std::size_t i = 0; i < add_chains; ++i) sum[i] = V::set1(float(i) * 2e-3f);
    const typename V::Reg x = V::set1(0.999999f), y = V::set1(1e-7f);
    if (with_adds) {
      for (std::size_t s = 0; s < steps; ++s) {
#pragma GCC unroll 16
        for (std::size_t i = 0; i < chains; ++i) acc[i] = V::fmadd(acc[i], x, y);
#pragma GCC unroll 16
        for (std::size_t i = 0; i < add_chains; ++i) sum[i] = V::add(sum[i], y);
      }
    } else {
      for (std::size_t s = 0; s < steps; ++s)
#pragma GCC unroll 16
        for (std::size_t i = 0; i < chains; ++i) acc[i] = V::fmadd(acc[i], x, y);
    }
    alignas(64) float out[V::width];
    for (std::size_t i = 1; i < chains; ++i) acc[0] = V::add(acc[0], acc[i]);
    for (std::size_t i = 0; i < add_chains; ++i) acc[0] = V::add(acc[0], sum[i]);
    V::store(out, acc[0]);
    result += out[0];
  }
  benchmark::DoNotOptimize(result);
  return (2.0 * chains + (with_adds ? add_chains : 0)) * V::width * double(steps) * threads;
#else
  (void)threads, (void)steps, (void)with_adds;
  return 0;
#endif
}

/// The FMA throughput in GFLOP/s with `threads` threads (0 without SIMD FMA), measured as the
/// `fma_peak` benchmark measures it: rounds of 4096 steps, repeated for at least 50 ms after a
/// warm-up. (One short call of 2^18 steps, as this used to be, timed the thread team's start and
/// the cores' clock ramp with it: bench_train once printed 61% of peak for 108 of 312 GFLOP/s.)
inline double measure_fma_peak(int threads) {
  if (run_fma_chains(threads, 1 << 16) == 0) return 0;  // warm-up: threads started, clocks up
  double flops = 0;
  const auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  while (seconds < 0.05) {
    flops += run_fma_chains(threads, 4096);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return flops / seconds / 1e9;
}

/// The benchmark: GFLOP/s of the FMA chains (and add chains), summed over threads.
inline void fma_peak(benchmark::State& state, int threads, bool with_adds = false) {
  double flops = 0;
  for (auto _ : state) flops = run_fma_chains(threads, 4096, with_adds);
  if (flops == 0) state.SkipWithError("no SIMD FMA in this build");
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

/// Registers fma_peak and fma_add_peak for 1 and 2 threads.
inline void register_fma_peak() {
  for (bool with_adds : {false, true})
    for (int threads : {1, 2})
      register_real_time(
          (with_adds ? "fma_add_peak/threads:" : "fma_peak/threads:") + std::to_string(threads),
          [threads, with_adds](benchmark::State& s) { fma_peak(s, threads, with_adds); },
          benchmark::kMicrosecond);
}

}  // namespace bench
