#pragma once
/// @file terminate_on_nan.hpp
/// `TerminateOnNaN`: stops training at the first batch whose loss is NaN or infinite (a learning
/// rate too high, bad data), with a message that says where.

#include <cmath>

#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Keras's TerminateOnNaN. The reason is in `History::stop_reason`.
template <typename T>
class TerminateOnNaN : public Callback<T> {
 public:
  void on_batch_end(Sequential<T>& model, const BatchLogs& logs) override {
    if (std::isfinite(logs.loss)) return;
    model.stop_training(detail::concat("TerminateOnNaN: loss is ", logs.loss, " at epoch ", logs.epoch + 1,
                                       ", batch ", logs.batch + 1,
                                       " (learning rate too high, or NaN/inf in the data?)"));
  }
};

}  // namespace tinydl
