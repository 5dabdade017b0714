// Whole-model speed: one training step (batch 64, Adam) and one inference batch (256) of each of
// the four study models, and every layer's forward and backward pass inside a training step.
// Counters: images/s, GFLOP/s, and peak% = GFLOP/s against the FMA peak measured at start-up in
// this same run (the machine's clock moves; a peak from another run would mislead).
//
// FLOP are counted as PyTorch's baseline counts them (../shared/anchors/torch_fmnist.py): 2 per
// multiply-add of every Dense and Conv2D layer, forward; a training step is 3x the forward (the
// weight and input gradients are one product each; the first layer's unneeded input gradient is
// counted too, as the baseline does). Pooling, BatchNorm and the rest are not counted.
//
//   bench_train --benchmark_filter='train_step|inference'        the model-level figures
//   bench_train --benchmark_filter='layer/basic_cnn'              one model's layers
//   bench_train --benchmark_filter='user_parallel_region'         tinydl inside a user's OpenMP region
#include <benchmark/benchmark.h>
#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fma_peak.hpp"

namespace {

using namespace tinydl;

constexpr std::size_t train_batch = 64, inference_batch = 256;
const char* const model_names[] = {"mlp", "basic_cnn", "deeper_cnn", "resnet"};

/// Multiply-adds of one example's forward pass through a built layer (a residual block: those of
/// the layers inside it, both stacks).
double layer_macs(const Layer<float>& layer, const Shape& item_in) {
  if (auto* dense = dynamic_cast<const Dense<float>*>(&layer))
    return double(dense->in_features()) * double(dense->units());
  if (auto* conv = dynamic_cast<const Conv2D<float>*>(&layer)) {
    const Shape out = conv->output_shape(prepend_batch(1, item_in));
    const double patch = double(conv->in_channels() * conv->kernel_size().h * conv->kernel_size().w);
    return double(out.numel()) * patch;
  }
  if (auto* block = dynamic_cast<const Residual<float>*>(&layer)) {
    double macs = 0;
    Shape body = item_in, skip = item_in;
    for (std::size_t i = 0; i < block->body_size(); ++i) {
      macs += layer_macs(block->body(i), body);
      body = item_shape(block->body(i).output_shape(prepend_batch(1, body)));
    }
    for (std::size_t i = 0; i < block->shortcut_size(); ++i) {
      macs += layer_macs(block->shortcut(i), skip);
      skip = item_shape(block->shortcut(i).output_shape(prepend_batch(1, skip)));
    }
    return macs;
  }
  return 0;
}

/// Forward multiply-adds of one example through the whole model, and per layer.
std::vector<double> macs_per_layer(const Sequential<float>& model) {
  std::vector<double> macs;
  Shape item = model.input_shape();
  for (std::size_t i = 0; i < model.size(); ++i) {
    macs.push_back(layer_macs(model.layer(i), item));
    item = item_shape(model.layer(i).output_shape(prepend_batch(1, item)));
  }
  return macs;
}

double sum(const std::vector<double>& v) {
  double total = 0;
  for (double x : v) total += x;
  return total;
}

/// The FMA peak of this run in GFLOP/s, measured once per thread count (best of 5).
double fma_peak_gflops(int threads) {
  static std::map<int, double> peak;
  double& best = peak[threads];
  if (best == 0)
    for (int repeat = 0; repeat < 5; ++repeat) best = std::max(best, bench::measure_fma_peak(threads));
  return best;
}

/// images/s and GFLOP/s per iteration of `images` images and `flops` flops, and peak%: the
/// GFLOP/s over the loop that started at `start` against this run's FMA peak.
void set_counters(benchmark::State& state, double images, double flops, int threads,
                  std::chrono::steady_clock::time_point start) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  state.counters["images/s"] = benchmark::Counter(images, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = fma_peak_gflops(threads);
  if (peak > 0 && flops > 0) {
    state.counters["peak%"] = 100 * flops * double(state.iterations()) / seconds / 1e9 / peak;
    state.counters["peak GFLOP/s"] = peak;  // the figure peak% divides by, to check it against fma_peak
  }
}

/// A built, compiled study model with a random batch of inputs and labels.
struct Setup {
  Sequential<float> model;
  Tensor<float> x;
  Tensor<std::int32_t> labels;

  Setup(const std::string& name, std::size_t batch)
      : model(zoo::by_name<float>(name, Initializer::torch_default)) {
    model.build(Shape{1, 28, 28}, 1);
    model.compile(Adam<float>(1e-3));
    model.reserve(batch);
    x = Tensor<float>(Shape{batch, 1, 28, 28});
    labels = Tensor<std::int32_t>(Shape{batch});
    const CounterRng rng(7);
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] = static_cast<float>(rng.uniform(0, i));  // pixels in [0, 1)
    for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<std::int32_t>(i % 10);
  }
};

void train_step(benchmark::State& state, const std::string& name, int threads) {
  set_num_threads(threads);
  Setup s(name, train_batch);
  for (int warm = 0; warm < 3; ++warm) s.model.train_on_batch(s.x.view(), s.labels.view());
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) s.model.train_on_batch(s.x.view(), s.labels.view());
  set_counters(state, train_batch, 3 * 2 * sum(macs_per_layer(s.model)) * train_batch, threads, start);
}

/// One batch of 256 through a `Predictor` of the model (the deployed path, as an ONNX Runtime
/// session: weights packed once, evaluation passes fused).
void inference(benchmark::State& state, const std::string& name, int threads) {
  set_num_threads(threads);
  Setup s(name, inference_batch);
  Predictor<float> predictor(s.model);
  const TensorView<const float> x = s.x.view();
  predictor.logits(x);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(predictor.logits(x).data());
  set_counters(state, inference_batch, 2 * sum(macs_per_layer(s.model)) * inference_batch, threads, start);
}

/// One image through a `Predictor` of the model: the latency a deployed model answers a single
/// request with (median over the iterations; Google Benchmark reports the mean, so run with
/// --benchmark_repetitions and read the median).
void latency(benchmark::State& state, const std::string& name, int threads) {
  set_num_threads(threads);
  Setup s(name, 1);
  Predictor<float> predictor(s.model);
  const TensorView<const float> x = s.x.view();
  for (int warm = 0; warm < 100; ++warm) predictor.logits(x);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) benchmark::DoNotOptimize(predictor.logits(x).data());
  set_counters(state, 1, 2 * sum(macs_per_layer(s.model)), threads, start);
}

/// A user's program that is itself parallel: an OpenMP region of 2 threads, each training its own
/// model. tinydl then runs each step on its calling thread (one level of parallelism), so the
/// pair should run 2 steps in the time of one 1-thread step: images/s about twice threads:1's.
void user_parallel_region(benchmark::State& state, const std::string& name) {
  set_num_threads(2);
  Setup first(name, train_batch), second(name, train_batch);
  Setup* setups[2] = {&first, &second};
  const auto step_both = [&] {
#pragma omp parallel num_threads(2)
    {
      Setup& s = *setups[thread_index() % 2];
      s.model.train_on_batch(s.x.view(), s.labels.view());
    }
  };
  for (int warm = 0; warm < 3; ++warm) step_both();
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) step_both();
  set_counters(state, 2 * train_batch, 2 * 3 * 2 * sum(macs_per_layer(first.model)) * train_batch, 2, start);
}

/// One layer's forward or backward pass at the training batch, on real activations: the layers
/// before it run once in training mode to produce its input; its output gradient is random.
void layer_pass(benchmark::State& state, const std::string& name, std::size_t index, bool backward,
                int threads) {
  set_num_threads(threads);
  Setup s(name, train_batch);
  Tensor<float> x = std::move(s.x);
  for (std::size_t i = 0; i < index; ++i) {
    Tensor<float> y(s.model.layer(i).output_shape(x.shape()));
    s.model.layer(i).forward(x.view(), y.view(), Mode::train);
    x = std::move(y);
  }
  Layer<float>& layer = s.model.layer(index);
  Tensor<float> y(layer.output_shape(x.shape())), dx(x.shape());
  Tensor<float> dy(y.shape());
  const CounterRng rng(3);
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = static_cast<float>(rng.uniform(0, i) - 0.5) * 1e-3f;
  layer.forward(x.view(), y.view(), Mode::train);
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (backward)
      layer.backward(x.view(), y.view(), dy.view(), index == 0 ? TensorView<float>() : dx.view());
    else
      layer.forward(x.view(), y.view(), Mode::train);
  }
  const double macs = macs_per_layer(s.model)[index] * train_batch;
  set_counters(state, train_batch, (backward ? (index == 0 ? 2 : 4) : 2) * macs, threads, start);
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("tinydl %s kernels: %s; training batch %zu, inference batch %zu\n", version_string,
              kernels::isa_name(), train_batch, inference_batch);
  bench::register_fma_peak();
  for (const char* name : model_names)
    for (int threads : {1, 2}) {
      const std::string suffix = std::string(name) + "/threads:" + std::to_string(threads);
      bench::register_real_time(
          "train_step/" + suffix, [name, threads](benchmark::State& s) { train_step(s, name, threads); },
          benchmark::kMillisecond);
      bench::register_real_time(
          "inference/" + suffix, [name, threads](benchmark::State& s) { inference(s, name, threads); },
          benchmark::kMillisecond);
      bench::register_real_time(
          "latency/" + suffix, [name, threads](benchmark::State& s) { latency(s, name, threads); },
          benchmark::kMicrosecond);
    }
  for (const char* name : model_names) {
    Setup s(name, 1);
    for (std::size_t i = 0; i < s.model.size(); ++i)
      for (const bool backward : {false, true}) {
        const std::string label = std::string("layer/") + name + "/" + s.model.layer(i).name() +
                                  (backward ? "/backward" : "/forward") + "/threads:2";
        bench::register_real_time(
            label, [name, i, backward](benchmark::State& st) { layer_pass(st, name, i, backward, 2); },
            benchmark::kMicrosecond);
      }
  }
  // Last: after a user's region, libgomp runs the next few regions measurably slower (seen as
  // +30% on the MLP's inference), which would distort the benchmarks that follow.
  for (const char* name : model_names)
    bench::register_real_time(
        std::string("user_parallel_region/") + name + "/threads:2",
        [name](benchmark::State& s) { user_parallel_region(s, name); }, benchmark::kMillisecond);
  return bench::run_benchmarks(argc, argv);
}
