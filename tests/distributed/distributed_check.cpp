// The program the data-parallel tests run under mpirun (tests/distributed/run.sh drives it):
//
//   distributed_check train OUT    trains a small CNN with BatchNorm and Dropout for 2 epochs and
//                                  saves it to OUT (rank 0); alone without mpirun
//   distributed_check die          process 1 kills itself (SIGKILL) in the third batch
//   distributed_check throw        process 1 throws in the third batch
//   distributed_check mismatch     process 1 builds its model from another seed
//
// The data: squares(122, 4) (tests/squares_task.hpp). In batches of 32, with 24 held out, the
// last training batch holds 2 examples: with 8 shards over 3 processes, one process has none.
// Exit codes: 0 done, 1 an error (its message on stderr), 2 a bad command line.
#include <tinydl/distributed/mpi_communicator.hpp>
#include <tinydl/tinydl.hpp>

#include <csignal>
#include <cstdio>
#include <memory>
#include <string>

#include "../squares_task.hpp"

using namespace tinydl;

using squares_task::small_cnn;
using squares_task::squares;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "train" && mode != "die" && mode != "throw" && mode != "mismatch") {
    std::fprintf(stderr, "usage: distributed_check train OUT | die | throw | mismatch\n");
    return 2;
  }
  distributed::World processes(argc, argv);  // MPI's world under mpirun, else alone
  Communicator* world = &processes.communicator();
  try {
    const int rank = world->rank();
    auto model = small_cnn(mode == "mismatch" && rank == 1 ? 12 : 11);
    FitOptions options;
    options.epochs = 2;
    options.batch_size = 32;
    options.seed = 5;
    options.verbose = 0;
    options.validation_split = 24.0 / 122;
    options.communicator = world;
    LambdaCallback<float> fault;
    fault.batch_end = [&](Sequential<float>&, const BatchLogs& logs) {
      if (rank != 1 || logs.batch != 2) return;
      if (mode == "die") std::raise(SIGKILL);
      if (mode == "throw") throw Error("a failure on process 1 alone");
    };
    const History history = model.fit(squares(122, 4), options, {&fault});
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
