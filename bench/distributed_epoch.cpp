// Data-parallel training speed (docs/distributed.md): for each study model, the time of a
// training step on Fashion-MNIST, the share of it spent in the exchanges (gathering shard sums,
// waiting for the slowest process included) and the bytes each process receives per step.
//
//   distributed_epoch [--steps N] [--models mlp,basic_cnn,deeper_cnn] [--threads N] [--shards S]
//                     [--exact 0|1]
//   mpirun -np P distributed_epoch ...
//
// Alone it trains with the same 8 gradient shards as P processes (a LocalCommunicator), so the
// numbers compare the same arithmetic. Rank 0 prints; an epoch is 844 steps of 64.
#include <tinydl/distributed/mpi_communicator.hpp>
#include <tinydl/tinydl.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

using namespace tinydl;
using Clock = std::chrono::steady_clock;

namespace {

/// A communicator that times and counts what passes through another one.
class TimedCommunicator final : public Communicator {
 public:
  explicit TimedCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  void all_gather(const float* local, float* all, const std::vector<std::size_t>& counts) override {
    timed([&] { inner_.all_gather(local, all, counts); }, counts, sizeof(float));
  }
  void all_gather(const double* local, double* all, const std::vector<std::size_t>& counts) override {
    timed([&] { inner_.all_gather(local, all, counts); }, counts, sizeof(double));
  }
  void all_reduce_sum(const float* local, float* out, std::size_t count) override {
    timed([&] { inner_.all_reduce_sum(local, out, count); }, std::vector<std::size_t>(size(), count),
          sizeof(float));
  }
  void all_reduce_sum(const double* local, double* out, std::size_t count) override {
    timed([&] { inner_.all_reduce_sum(local, out, count); }, std::vector<std::size_t>(size(), count),
          sizeof(double));
  }
  std::size_t start_all_gather(const float* local, float* all,
                               const std::vector<std::size_t>& counts) override {
    std::size_t request = 0;
    timed([&] { request = inner_.start_all_gather(local, all, counts); }, counts, sizeof(float));
    return request;
  }
  std::size_t start_all_gather(const double* local, double* all,
                               const std::vector<std::size_t>& counts) override {
    std::size_t request = 0;
    timed([&] { request = inner_.start_all_gather(local, all, counts); }, counts, sizeof(double));
    return request;
  }
  void wait(std::size_t request) override {  // time only: the bytes were counted at the start
    const auto start = Clock::now();
    inner_.wait(request);
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
  }
  void broadcast(void* data, std::size_t count, int root) override { inner_.broadcast(data, count, root); }
  void abort(const std::string& message) override { inner_.abort(message); }

  double seconds = 0, bytes = 0, calls = 0;
  void reset() { seconds = bytes = calls = 0; }

 private:
  template <typename F>
  void timed(F&& f, const std::vector<std::size_t>& counts, std::size_t value_size) {
    const auto start = Clock::now();
    f();
    seconds += std::chrono::duration<double>(Clock::now() - start).count();
    std::size_t others = 0;  // values received from the other processes
    for (std::size_t r = 0; r < counts.size(); ++r)
      if (static_cast<int>(r) != rank()) others += counts[r];
    bytes += static_cast<double>(others * value_size);
    calls += 1;
  }
  Communicator& inner_;
};

}  // namespace

int main(int argc, char** argv) {
  distributed::World processes(argc, argv);  // MPI's world under mpirun, else alone
  Communicator* world = &processes.communicator();
  std::size_t steps = 100, shards = 0;
  bool exact = true;
  std::vector<std::string> models{"mlp", "basic_cnn", "deeper_cnn"};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--steps") steps = std::stoul(value);
    if (flag == "--shards") shards = std::stoul(value);
    if (flag == "--exact") exact = value != "0";
    if (flag == "--threads") set_num_threads(std::stoi(value));
    if (flag == "--models") {
      models.clear();
      std::stringstream list(value);
      for (std::string m; std::getline(list, m, ',');) models.push_back(m);
    }
  }
  try {
    const std::string dir = datasets::fashion_mnist_dir("");
    if (!datasets::fashion_mnist_available(dir)) {
      std::fprintf(stderr,
                   "distributed_epoch: Fashion-MNIST not found (apt-get install dataset-fashion-mnist)\n");
      return 2;
    }
    const auto data = datasets::fashion_mnist(dir);
    const std::size_t batch = 64, warm = 5;
    const auto train = data.train.slice(0, (steps + warm) * batch);
    TimedCommunicator timed(*world);
    if (world->is_root())
      std::printf("%d process(es) x %d thread(s), %s kernels, %zu steps of %zu after %zu warm-up steps\n",
                  world->size(), num_threads(), kernels::isa_name(), steps, batch, warm);
    for (const std::string& name : models) {
      auto model = zoo::by_name<float>(name);
      model.build(Shape{1, 28, 28}, 1);
      model.compile(Adam<float>(1e-3));
      FitOptions options;
      options.batch_size = batch;
      options.verbose = 0;
      options.shuffle = false;
      options.communicator = &timed;
      options.gradient_shards = shards;  // 0: the default 8
      options.exact = exact;
      double step_start = 0;
      double exchange_start = 0, bytes_start = 0;
      LambdaCallback<float> clock;
      const auto t0 = Clock::now();
      auto now = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
      clock.batch_end = [&](Sequential<float>&, const BatchLogs& logs) {
        if (logs.batch + 1 == warm) {
          step_start = now();
          exchange_start = timed.seconds;
          bytes_start = timed.bytes;
        }
      };
      double train_seconds = 0, exchange = 0, bytes = 0;
      clock.epoch_end = [&](Sequential<float>&, const EpochLogs&) {
        train_seconds = now() - step_start;
        exchange = timed.seconds - exchange_start;
        bytes = timed.bytes - bytes_start;
      };
      model.fit(train, options, {&clock});
      const double per_step = train_seconds / static_cast<double>(steps);
      if (world->is_root())
        std::printf(
            "%-10s %7.2f ms/step (%6.1f s per 844-step epoch), exchanges %5.1f%% of the step, "
            "%8.1f KiB received per step\n",
            name.c_str(), 1e3 * per_step, 844 * per_step, 100 * exchange / train_seconds,
            bytes / static_cast<double>(steps) / 1024);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_epoch: %s\n", e.what());
    return 1;
  }
}
