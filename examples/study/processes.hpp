#pragma once
// The processes the study trains on: under mpirun (in a build with MPI, the target tinydl::mpi),
// MPI's world, each process training on its part of every batch; otherwise this process alone.
// Either way fit gets a communicator, so its batches are cut into the same 8 gradient shards and
// one process writes the bits that N processes write.
#include <tinydl/tinydl.hpp>

#include <cstdio>
#include <memory>

#if TINYDL_WITH_MPI
#include <tinydl/distributed/mpi_communicator.hpp>
#endif

namespace study {

class Processes {
 public:
  Processes(int& argc, char**& argv) {
#if TINYDL_WITH_MPI
    world_ = std::make_unique<tinydl::distributed::World>(argc, argv);
    communicator_ = &world_->communicator();
#else
    (void)argc;
    (void)argv;
    communicator_ = &alone_;
#endif
    // Rank 0 alone prints and writes files; the others train and stay quiet.
    if (!root()) check_quiet(std::freopen("/dev/null", "w", stdout) != nullptr);
  }

  tinydl::Communicator& communicator() {
    return *communicator_;
  }
  bool root() const {
    return communicator_->is_root();
  }
  int size() const {
    return communicator_->size();
  }

  /// For an error on this process: with others, ends them all (they would wait for this one).
  void fail(const std::string& message) {
    if (size() > 1) communicator_->abort(message);
  }

 private:
  static void check_quiet(bool ok) {
    tinydl::check<tinydl::IoError>(ok, "cannot silence stdout");
  }

#if TINYDL_WITH_MPI
  std::unique_ptr<tinydl::distributed::World> world_;
#else
  tinydl::LocalCommunicator alone_;
#endif
  tinydl::Communicator* communicator_ = nullptr;
};

}  // namespace study
