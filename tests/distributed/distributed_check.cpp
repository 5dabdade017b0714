// The program the data-parallel tests run under mpirun (tests/distributed/run.sh drives it):
//
//   distributed_check train OUT    trains a small CNN with BatchNorm and Dropout for 2 epochs and
//                                  saves it to OUT (rank 0); alone without mpirun
//   distributed_check die          process 1 kills itself (SIGKILL) in the third batch
//   distributed_check throw        process 1 throws in the third batch
//   distributed_check mismatch     process 1 builds its model from another seed
//
// Exit codes: 0 done, 1 an error (its message on stderr), 2 a bad command line.
#include <tinydl/distributed/mpi_communicator.hpp>
#include <tinydl/tinydl.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

using namespace tinydl;

namespace {

/// 122 images (1, 12, 12) whose class (of 4) is where a bright square sits. In batches of 32,
/// with 24 held out, the last training batch holds 2 examples: with 8 shards over 3 processes,
/// one process has none of it.
Dataset<std::uint8_t> squares() {
  const std::size_t n = 122;
  Tensor<std::uint8_t> images(Shape{n, 1, 12, 12});
  Tensor<std::int32_t> labels(Shape{n});
  const CounterRng rng(4);
  for (std::size_t i = 0; i < n; ++i) {
    const auto label = static_cast<std::int32_t>(rng.below(4, 1, i));
    labels[i] = label;
    for (std::size_t p = 0; p < 144; ++p)
      images[i * 144 + p] = static_cast<std::uint8_t>(rng.below(60, 2, i * 144 + p));
    const std::size_t top = label < 2 ? 1 : 7, left = label % 2 ? 7 : 1;
    for (std::size_t r = top; r < top + 4; ++r)
      for (std::size_t c = left; c < left + 4; ++c) images[i * 144 + r * 12 + c] = 250;
  }
  return Dataset<std::uint8_t>(std::move(images), std::move(labels), 1.0 / 255);
}

Sequential<float> small_cnn(std::uint64_t seed) {
  Sequential<float> model;
  model.add(Conv2D<float>(8, 3, 1, Padding::same()))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(MaxPool2D<float>(2))
      .add(Dropout<float>(0.25))
      .add(Flatten<float>())
      .add(Dense<float>(16))
      .add(BatchNorm<float>())
      .add(ReLU<float>())
      .add(Dropout<float>(0.5))
      .add(Dense<float>(4));
  model.build(Shape{1, 12, 12}, seed);
  model.compile(Adam<float>(3e-3));
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "train" && mode != "die" && mode != "throw" && mode != "mismatch") {
    std::fprintf(stderr, "usage: distributed_check train OUT | die | throw | mismatch\n");
    return 2;
  }
  std::unique_ptr<distributed::MpiSession> session;
  std::unique_ptr<Communicator> world;
  if (distributed::launched_by_mpirun()) {
    session = std::make_unique<distributed::MpiSession>(argc, argv);
    world = std::make_unique<distributed::MpiCommunicator>();
  } else {
    world = std::make_unique<LocalCommunicator>();
  }
  try {
    const int rank = world->rank();
    auto model = small_cnn(mode == "mismatch" && rank == 1 ? 12 : 11);
    FitOptions options;
    options.epochs = 2;
    options.batch_size = 32;
    options.seed = 5;
    options.verbose = 0;
    options.validation_split = 24.0 / 122;
    options.communicator = world.get();
    LambdaCallback<float> fault;
    fault.batch_end = [&](Sequential<float>&, const BatchLogs& logs) {
      if (rank != 1 || logs.batch != 2) return;
      if (mode == "die") std::raise(SIGKILL);
      if (mode == "throw") throw Error("a failure on process 1 alone");
    };
    const History history = model.fit(squares(), options, {&fault});
    if (mode == "train" && world->is_root()) {
      model.save(argv[2] ? argv[2] : "distributed.safetensors");
      std::printf("trained on %d process%s: loss %.6f, val_loss %.6f\n", world->size(),
                  world->size() == 1 ? "" : "es", history.epochs.back().loss, history.epochs.back().val_loss);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_check (process %d): %s\n", world->rank(), e.what());
    return 1;
  }
}
