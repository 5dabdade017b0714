// The study: an MLP, a basic CNN and a deeper CNN (BatchNorm, Dropout) trained the same way on
// Fashion-MNIST, compared on the unseen test set, with training curves, confusion matrices,
// pictures of right and wrong predictions, and findings computed from the numbers.
//
//   fashion_mnist_compare [--data DIR] [--out DIR] [--models mlp,basic_cnn,deeper_cnn] [--epochs N]
//                         [--batch-size N] [--seed S] [--repeats K] [--threads N] [--quick] [--help]
//   mpirun -np N fashion_mnist_compare ...    the same run, data-parallel over N processes (N <= 8),
//                                             with the same weights, byte for byte
//
// This file is the lesson: load the data, build each model, train it with the callbacks,
// evaluate it, hand the results to the report. The command line, the statistics, the figures and
// the report are in study/.
#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "study/figures.hpp"
#include "study/options.hpp"
#include "study/processes.hpp"
#include "study/report.hpp"
#include "study/results.hpp"

using namespace tinydl;
using namespace study;
namespace fs = std::filesystem;

namespace {

/// Trains one model with one seed and evaluates it on the test set.
Run train_once(const std::string& name, std::uint64_t seed, const datasets::FashionMnist& data,
               const Options& o, const fs::path& dir, bool first, ModelResult& result, Processes& processes) {
  Sequential<float> model = zoo::by_name<float>(name, o.init);
  model.build(Shape{1, 28, 28}, seed);
  model.compile(Adam<float>(1e-3));
  result.params = model.parameter_count(true);
  if (first) std::printf("\n%s", model.summary().c_str());

  const std::string suffix = o.repeats > 1 ? "-seed" + std::to_string(seed) : "";
  EarlyStopping<float> early_stopping("val_loss", 3, 0, MonitorMode::automatic,
                                      /*restore_best_weights=*/true);
  ModelCheckpoint<float> checkpoint((dir / ("best" + suffix + ".safetensors")).string(), "val_loss", true);
  CSVLogger<float> log((dir / ("history" + suffix + ".csv")).string());
  TerminateOnNaN<float> stop_on_nan;  // a diverged run stops at once, and is reported as such below
  FitOptions options;
  options.epochs = o.epochs;
  options.batch_size = o.batch_size;
  options.seed = seed;
  options.communicator = &processes.communicator();  // alone or with others: the same 8 shards
  std::printf("\n== %s, seed %llu: %zu training / %zu validation images, up to %zu epochs\n", name.c_str(),
              static_cast<unsigned long long>(seed), data.train.size(), data.validation.size(), o.epochs);
  std::fflush(stdout);

  Run run;
  run.seed = seed;
  model.set_profiling(o.profile);
  run.history =
      model.fit(data.train, data.validation, options, {&stop_on_nan, &early_stopping, &checkpoint, &log});
  check<Error>(run.history.stop_reason.rfind("TerminateOnNaN", 0) != 0, name, ", seed ", seed,
               ": training diverged (", run.history.stop_reason,
               "); try a smaller learning rate or batch size");
  if (!processes.root()) return run;  // the others only help train (the files are rank 0's)
  if (o.profile) {
    const std::string table = model.profile().table();
    std::printf("\nProfile of %s's training steps (batch %zu):\n%s", name.c_str(), o.batch_size,
                table.c_str());
    io::write_file_atomically((dir / ("profile" + suffix + ".txt")).string(), table.data(), table.size());
  }
  run.epochs_run = run.history.size();
  run.best_epoch = static_cast<std::size_t>(early_stopping.best_epoch() + 1);
  for (const auto& e : run.history.epochs) run.train_seconds += e.seconds;
  run.seconds_per_epoch = run.train_seconds / static_cast<double>(std::max<std::size_t>(1, run.epochs_run));

  // The checkpoint holds the best epoch's weights, which EarlyStopping has also restored.
  model.load_weights(checkpoint.last_saved());
  const Evaluation test = model.evaluate(data.test, o.batch_size);
  run.test_loss = test.loss;
  run.test_accuracy = test.accuracy;
  std::printf("%s, seed %llu: best epoch %zu of %zu, test loss %.4f, test accuracy %s (%.1f s per epoch)\n",
              name.c_str(), static_cast<unsigned long long>(seed), run.best_epoch, run.epochs_run, test.loss,
              percent(test.accuracy).c_str(), run.seconds_per_epoch);
  if (first) {
    result.probabilities = model.predict(data.test, o.batch_size);
    result.predicted = metrics::predicted_classes(TensorView<const float>(result.probabilities.view()));
  }
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  Processes processes(argc, argv);
  try {
    const Options o = parse(argc, argv);
    if (o.threads > 0) set_num_threads(o.threads);
    std::printf("tinydl %s (%s kernels, %d thread%s", version_string, kernels::isa_name(), num_threads(),
                num_threads() == 1 ? "" : "s");
    if (processes.size() > 1) std::printf(" per process, %d processes", processes.size());
    std::printf(")\n");
    const std::string dir = datasets::fashion_mnist_dir(o.data_dir);
    if (!datasets::fashion_mnist_available(dir)) {
      std::fprintf(stderr,
                   "fashion_mnist_compare: Fashion-MNIST not found in %s.\nInstall it with `apt-get install "
                   "dataset-fashion-mnist` (Debian), or pass --data DIR / set TINYDL_DATA.\n",
                   dir.c_str());
      return 2;
    }
    datasets::FashionMnist data = datasets::fashion_mnist(dir);
    Options run_options = o;
    if (o.quick) {  // a first look: a slice of every split and 2 epochs
      data.train = data.train.slice(0, 6000);
      data.validation = data.validation.slice(0, 1000);
      data.test = data.test.slice(0, 2000);
      run_options.epochs = std::min<std::size_t>(o.epochs, 2);
    }
    const fs::path out = o.out_dir;
    std::error_code made;
    fs::create_directories(out, made);
    check<IoError>(!made, "--out ", out.string(), ": cannot create the folder (", made.message(), ")");
    std::printf("data: %zu training, %zu validation, %zu test images from %s; writing to %s\n",
                data.train.size(), data.validation.size(), data.test.size(), dir.c_str(),
                out.string().c_str());

    std::vector<ModelResult> results;
    for (const std::string& name : o.models) {
      ModelResult result;
      result.name = name;
      const fs::path model_dir = out / name;
      fs::create_directories(model_dir);
      for (std::size_t r = 0; r < o.repeats; ++r)
        result.runs.push_back(
            train_once(name, o.seed + r, data, run_options, model_dir, r == 0, result, processes));
      results.push_back(std::move(result));
    }
    if (!processes.root()) return 0;
    save_figures(results, data, out);
    write_outputs(results, data, run_options, out);
    return 0;
  } catch (const std::exception& e) {  // tinydl::Error, a file system error, out of memory: one line
    std::fprintf(stderr, "fashion_mnist_compare: %s\n", e.what());
    processes.fail(std::string("fashion_mnist_compare: ") + e.what());
    return 1;
  }
}
