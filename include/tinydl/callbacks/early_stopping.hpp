#pragma once
/// @file early_stopping.hpp
/// `EarlyStopping`: stops training when a metric has not improved for `patience` epochs, and
/// optionally puts back the weights of the best epoch when training ends.

#include <string>
#include <vector>

#include "tinydl/callbacks/monitor.hpp"
#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Keras's EarlyStopping. With `restore_best_weights`, the model ends with the weights of its
/// best epoch whether training stopped early or ran all its epochs.
template <typename T>
class EarlyStopping : public Callback<T> {
 public:
  explicit EarlyStopping(std::string monitor = "val_loss", std::size_t patience = 0, double min_delta = 0,
                         MonitorMode mode = MonitorMode::automatic, bool restore_best_weights = false)
      : monitor_(std::move(monitor), mode, min_delta), patience_(patience), restore_(restore_best_weights) {}

  /// The epoch (0-based) with the best value, and the epoch training stopped after (or -1).
  long best_epoch() const { return best_epoch_; }
  long stopped_epoch() const { return stopped_epoch_; }
  double best() const { return monitor_.best(); }

  void on_train_begin(Sequential<T>&, const TrainInfo&) override {
    monitor_.reset();
    wait_ = 0;
    best_epoch_ = stopped_epoch_ = -1;
    best_weights_.clear();
  }

  void on_epoch_end(Sequential<T>& model, const EpochLogs& logs) override {
    if (monitor_.improved(logs)) {
      best_epoch_ = static_cast<long>(logs.epoch);
      wait_ = 0;
      if (restore_) best_weights_ = model.get_weights();
      return;
    }
    if (++wait_ >= patience_) {
      stopped_epoch_ = static_cast<long>(logs.epoch);
      model.stop_training(detail::concat("EarlyStopping: ", monitor_.metric(), " did not improve for ", wait_,
                                         " epoch", wait_ == 1 ? "" : "s", " (best ", monitor_.best(),
                                         " at epoch ", best_epoch_ + 1, ")"));
    }
  }

  void on_train_end(Sequential<T>& model, const History&) override {
    if (restore_ && !best_weights_.empty()) model.set_weights(best_weights_);
  }

 private:
  Monitor monitor_;
  std::size_t patience_, wait_ = 0;
  bool restore_;
  long best_epoch_ = -1, stopped_epoch_ = -1;
  std::vector<Tensor<T>> best_weights_;
};

}  // namespace tinydl
