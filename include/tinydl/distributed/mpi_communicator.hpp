#pragma once
/// @file mpi_communicator.hpp
/// Data-parallel training over MPI: `MpiSession` (MPI_Init / MPI_Finalize for the program's
/// life) and `MpiCommunicator`, the `Communicator` of core/communicator.hpp on an MPI
/// communicator. Only compiled where MPI is found (CMake target `tinydl::mpi`, which defines
/// TINYDL_WITH_MPI); the rest of tinydl needs no MPI. Written against the MPI standard's C API
/// only, so Open MPI and MPICH both serve.
///
///     tinydl::distributed::MpiSession mpi(argc, argv);
///     tinydl::distributed::MpiCommunicator world;
///     tinydl::FitOptions options;
///     options.communicator = &world;           // the one line that makes fit data-parallel
///     model.fit(train, validation, options, callbacks);
///
/// Errors: every MPI call is checked (the communicator returns errors instead of aborting); a
/// failed exchange, as when another process died, ends the job with a message naming the call.
/// An exception inside a data-parallel `fit` calls `abort`, since the other processes would wait
/// for this one forever.

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "tinydl/core/communicator.hpp"
#include "tinydl/core/error.hpp"

namespace tinydl::distributed {

/// Whether this process was started by an MPI launcher (mpirun, mpiexec, srun): Open MPI, MPICH
/// (Hydra) and PMIx launchers each set one of these variables.
inline bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

/// MPI_Init on construction, MPI_Finalize on destruction (unless MPI was already initialised by
/// someone else). OpenMP threads do not call MPI, so MPI_THREAD_FUNNELED suffices.
class MpiSession {
 public:
  MpiSession(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) return;
    int provided = 0;
    check<Error>(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
                 "MPI_Init_thread failed");
    owner_ = true;
  }
  ~MpiSession() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owner_ && !finalized) MPI_Finalize();
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

 private:
  bool owner_ = false;
};

/// A `Communicator` over a duplicate of an MPI communicator (MPI_COMM_WORLD by default), so
/// tinydl's messages never mix with the program's own.
class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(MPI_Comm base = MPI_COMM_WORLD) {
    call(MPI_Comm_dup(base, &comm_), "MPI_Comm_dup");
    MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
    call(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    call(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  MpiCommunicator(const MpiCommunicator&) = delete;
  MpiCommunicator& operator=(const MpiCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void all_gather(const float* local, float* all, const std::vector<std::size_t>& counts) override {
    gather(local, all, counts, MPI_FLOAT);
  }
  void all_gather(const double* local, double* all, const std::vector<std::size_t>& counts) override {
    gather(local, all, counts, MPI_DOUBLE);
  }

  std::size_t start_all_gather(const float* local, float* all,
                               const std::vector<std::size_t>& counts) override {
    return start(local, all, counts, MPI_FLOAT);
  }
  std::size_t start_all_gather(const double* local, double* all,
                               const std::vector<std::size_t>& counts) override {
    return start(local, all, counts, MPI_DOUBLE);
  }
  void wait(std::size_t request) override {
    Pending& p = pending_.at(request);
    call(MPI_Wait(&p.request, MPI_STATUS_IGNORE), "MPI_Wait (MPI_Iallgatherv)");
    if (++waited_ == started_) started_ = waited_ = 0;  // all done: the slots are free again
  }

  void all_reduce_sum(const float* local, float* out, std::size_t count) override {
    reduce(local, out, count, MPI_FLOAT);
  }
  void all_reduce_sum(const double* local, double* out, std::size_t count) override {
    reduce(local, out, count, MPI_DOUBLE);
  }

  void broadcast(void* data, std::size_t count, int root) override {
    check<ConfigError>(count <= INT_MAX, "MpiCommunicator::broadcast: ", count,
                       " bytes is more than MPI takes");
    call(MPI_Bcast(data, static_cast<int>(count), MPI_BYTE, root, comm_), "MPI_Bcast");
  }

  void abort(const std::string& message) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    MPI_Abort(comm_ == MPI_COMM_NULL ? MPI_COMM_WORLD : comm_, 1);
    std::_Exit(1);  // MPI_Abort does not return; this is for an implementation whose does
  }

  /// The MPI communicator tinydl's exchanges use.
  MPI_Comm handle() const { return comm_; }

 private:
  /// A started gather: its request and the int counts MPI reads until it completes. Slots are
  /// reused step after step, so a step allocates nothing once the first has run.
  struct Pending {
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<int> counts, displacements;
  };

  template <typename T>
  std::size_t start(const T* local, T* all, const std::vector<std::size_t>& counts, MPI_Datatype type) {
    if (started_ == pending_.size()) pending_.emplace_back();
    Pending& p = pending_[started_];
    fill_counts(counts, p.counts, p.displacements);
    // Progress for the gathers already under way: Open MPI moves a non-blocking collective on
    // only inside MPI calls, so each new start also tests the earlier ones.
    for (std::size_t i = 0; i < started_; ++i) {  // (a finished one tests as done)
      int done = 0;
      call(MPI_Test(&pending_[i].request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    }
    const auto mine = static_cast<std::size_t>(rank_);
    call(MPI_Iallgatherv(local, p.counts[mine], type, all, p.counts.data(), p.displacements.data(), type,
                         comm_, &p.request),
         "MPI_Iallgatherv");
    return started_++;
  }

  void fill_counts(const std::vector<std::size_t>& counts, std::vector<int>& ints,
                   std::vector<int>& offsets) {
    check<ConfigError>(counts.size() == static_cast<std::size_t>(size_),
                       "MpiCommunicator::all_gather: ", counts.size(), " counts for ", size_, " processes");
    ints.resize(counts.size());
    offsets.resize(counts.size());
    std::size_t offset = 0;
    for (std::size_t r = 0; r < counts.size(); ++r) {
      check<ConfigError>(counts[r] <= INT_MAX && offset <= INT_MAX,
                         "MpiCommunicator::all_gather: ", counts[r],
                         " values is more than MPI takes in one call");
      ints[r] = static_cast<int>(counts[r]);
      offsets[r] = static_cast<int>(offset);
      offset += counts[r];
    }
  }

  template <typename T>
  void reduce(const T* local, T* out, std::size_t count, MPI_Datatype type) {
    check<ConfigError>(count <= INT_MAX, "MpiCommunicator::all_reduce_sum: ", count,
                       " values is more than MPI takes in one call");
    call(MPI_Allreduce(local, out, static_cast<int>(count), type, MPI_SUM, comm_), "MPI_Allreduce");
  }

  template <typename T>
  void gather(const T* local, T* all, const std::vector<std::size_t>& counts, MPI_Datatype type) {
    fill_counts(counts, counts_, displacements_);
    const auto mine = static_cast<std::size_t>(rank_);
    call(MPI_Allgatherv(local, counts_[mine], type, all, counts_.data(), displacements_.data(), type, comm_),
         "MPI_Allgatherv");
  }

  /// A failed MPI call: most often another process has died. Ends the job with the reason, since
  /// continuing would leave the others waiting.
  void call(int status, const char* what) {
    if (status == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(status, text, &length);
    abort(std::string("tinydl: process ") + std::to_string(rank_) + ": " + what + " failed (" +
          std::string(text, static_cast<std::size_t>(length)) +
          "); another process has probably ended; ending all processes");
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  std::vector<int> counts_, displacements_;  // reused by every all_gather
  std::vector<Pending> pending_;             // started gathers: [0, started_), waited_ of them done
  std::size_t started_ = 0, waited_ = 0;
};

/// The processes of this run: MPI's world when an MPI launcher started the program, else this
/// process alone (a LocalCommunicator, no MPI_Init), so one binary serves both ways.
class World {
 public:
  World(int& argc, char**& argv) {
    if (launched_by_mpirun()) {
      session_ = std::make_unique<MpiSession>(argc, argv);
      communicator_ = std::make_unique<MpiCommunicator>();
    } else {
      communicator_ = std::make_unique<LocalCommunicator>();
    }
  }
  Communicator& communicator() { return *communicator_; }

 private:
  std::unique_ptr<MpiSession> session_;  // declared first: finalised after the communicator is freed
  std::unique_ptr<Communicator> communicator_;
};

}  // namespace tinydl::distributed
