#pragma once
/// @file lambda_callback.hpp
/// `LambdaCallback`: a callback made of functions, for one-off hooks without a class.
///
///     LambdaCallback<float> log;
///     log.epoch_end = [](Sequential<float>&, const EpochLogs& logs) { std::cout << logs.loss << "\n"; };

#include <functional>

#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Calls whichever of its functions are set.
template <typename T>
class LambdaCallback : public Callback<T> {
 public:
  std::function<void(Sequential<T>&, const TrainInfo&)> train_begin;
  std::function<void(Sequential<T>&, const History&)> train_end;
  std::function<void(Sequential<T>&, std::size_t)> epoch_begin;
  std::function<void(Sequential<T>&, const EpochLogs&)> epoch_end;
  std::function<void(Sequential<T>&, const BatchLogs&)> batch_end;

  void on_train_begin(Sequential<T>& m, const TrainInfo& i) override {
    if (train_begin) train_begin(m, i);
  }
  void on_train_end(Sequential<T>& m, const History& h) override {
    if (train_end) train_end(m, h);
  }
  void on_epoch_begin(Sequential<T>& m, std::size_t e) override {
    if (epoch_begin) epoch_begin(m, e);
  }
  void on_epoch_end(Sequential<T>& m, const EpochLogs& l) override {
    if (epoch_end) epoch_end(m, l);
  }
  void on_batch_end(Sequential<T>& m, const BatchLogs& l) override {
    if (batch_end) batch_end(m, l);
  }
};

}  // namespace tinydl
