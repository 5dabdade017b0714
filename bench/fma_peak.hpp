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

/// Runs `steps` rounds of 16 independent FMA chains on each of `threads` threads (enough chains
/// to cover the FMA latency on every x86 core), no memory traffic; returns the flops done
/// (2 * width * 16 * steps * threads), or 0 in a build without SIMD FMA. With `with_adds`, each
/// round also runs 16 independent add chains, which cores with separate floating-point add
/// pipes (Zen 4) execute beside the FMAs: a higher "peak" that a GEMM cannot use, since each of
/// its multiply-adds needs a multiply.
inline double run_fma_chains(int threads, std::size_t steps, bool with_adds = false) {
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
  using V = tinydl::kernels::Simd<float>;
  constexpr std::size_t chains = 16;
  float result = 0;
#pragma omp parallel num_threads(threads) reduction(+ : result)
  {
    typename V::Reg acc[chains], sum[chains];
    for (std::size_t i = 0; i < chains; ++i)
      acc[i] = sum[i] = V::set1(float(i) * 1e-3f);  // distinct: no merged chains
    const typename V::Reg x = V::set1(0.999999f), y = V::set1(1e-7f);
    if (with_adds) {
      for (std::size_t s = 0; s < steps; ++s)
#pragma GCC unroll 16
        for (std::size_t i = 0; i < chains; ++i) {
          acc[i] = V::fmadd(acc[i], x, y);
          sum[i] = V::add(sum[i], y);
        }
    } else {
      for (std::size_t s = 0; s < steps; ++s)
#pragma GCC unroll 16
        for (std::size_t i = 0; i < chains; ++i) acc[i] = V::fmadd(acc[i], x, y);
    }
    alignas(64) float out[V::width];
    for (std::size_t i = 1; i < chains; ++i) acc[0] = V::fmadd(acc[i], x, V::add(acc[0], sum[i]));
    V::store(out, V::add(acc[0], sum[0]));
    result += out[0];
  }
  benchmark::DoNotOptimize(result);
  return (with_adds ? 3.0 : 2.0) * V::width * chains * double(steps) * threads;
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
