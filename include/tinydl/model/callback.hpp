#pragma once
/// @file callback.hpp
/// `Callback<T>`: hooks into `Sequential::fit`, as in Keras. A callback receives the model in
/// every hook, so it can stop training (`model.stop_training(reason)`), change the learning rate
/// (`model.optimizer().set_learning_rate(...)`), save or restore weights. The built-in callbacks
/// are in callbacks/.

#include <cstddef>

#include "tinydl/model/history.hpp"

namespace tinydl {

template <typename T>
class Sequential;

/// What a training run will do, given to `on_train_begin`.
struct TrainInfo {
  std::size_t initial_epoch = 0, epochs = 0;  ///< epochs [initial_epoch, epochs) will run
  std::size_t batches_per_epoch = 0, batch_size = 0;
  std::size_t train_samples = 0, validation_samples = 0;
  /// Data-parallel training: this process's rank and the number of processes. Every process's
  /// callbacks see the same logs; only rank 0 (`writes_files()`) should write files or print.
  int rank = 0, processes = 1;
  bool writes_files() const { return rank == 0; }
};

/// The numbers of one training batch, given to `on_batch_end`.
struct BatchLogs {
  std::size_t epoch = 0, batch = 0;  ///< 0-based
  std::size_t size = 0;              ///< examples in this batch
  double loss = 0, accuracy = 0;     ///< of this batch
};

/// Base class of callbacks; override the hooks you need.
template <typename T>
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Sequential<T>& model, const TrainInfo& info) {
    (void)model;
    (void)info;
  }
  virtual void on_train_end(Sequential<T>& model, const History& history) {
    (void)model;
    (void)history;
  }
  virtual void on_epoch_begin(Sequential<T>& model, std::size_t epoch) {
    (void)model;
    (void)epoch;
  }
  virtual void on_epoch_end(Sequential<T>& model, const EpochLogs& logs) {
    (void)model;
    (void)logs;
  }
  virtual void on_batch_end(Sequential<T>& model, const BatchLogs& logs) {
    (void)model;
    (void)logs;
  }
};

}  // namespace tinydl
