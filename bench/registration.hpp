#pragma once
// What every benchmark program does to register and run its benchmarks.
#include <benchmark/benchmark.h>

#include <string>
#include <utility>

namespace bench {

/// Registers `run` (a callable taking benchmark::State&) as `name`, timed in real time: the work
/// runs on OpenMP threads, whose CPU time the calling thread's clock does not see.
template <typename Run>
void register_real_time(const std::string& name, Run run, benchmark::TimeUnit unit) {
  benchmark::RegisterBenchmark(name.c_str(), std::move(run))->UseRealTime()->Unit(unit);
}

/// Runs the registered benchmarks with the command line's options; returns main's exit status
/// (1 for an option Google Benchmark does not know).
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace bench
