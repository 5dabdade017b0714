#pragma once
/// @file reduce_lr_on_plateau.hpp
/// `ReduceLROnPlateau`: multiplies the learning rate by `factor` when a metric has not improved
/// for `patience` epochs, then waits `cooldown` epochs before watching again; never below `min_lr`.

#include <algorithm>
#include <string>

#include "tinydl/callbacks/monitor.hpp"
#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Keras's ReduceLROnPlateau.
template <typename T>
class ReduceLROnPlateau : public Callback<T> {
 public:
  explicit ReduceLROnPlateau(std::string monitor = "val_loss", double factor = 0.1, std::size_t patience = 10,
                             double min_delta = 1e-4, std::size_t cooldown = 0, double min_lr = 0,
                             MonitorMode mode = MonitorMode::automatic)
      : monitor_(std::move(monitor), mode, min_delta),
        factor_(factor),
        patience_(patience),
        cooldown_(cooldown),
        min_lr_(min_lr) {
    check<ConfigError>(factor > 0 && factor < 1, "ReduceLROnPlateau: factor must be in (0, 1), got ", factor);
  }

  void on_train_begin(Sequential<T>&, const TrainInfo&) override {
    monitor_.reset();
    wait_ = cooling_ = 0;
  }

  void on_epoch_end(Sequential<T>& model, const EpochLogs& logs) override {
    if (cooling_ > 0) --cooling_;
    if (monitor_.improved(logs)) {
      wait_ = 0;
      return;
    }
    if (cooling_ > 0 || ++wait_ < patience_) return;
    Optimizer<T>& optimizer = model.optimizer();
    optimizer.set_learning_rate(std::max(min_lr_, optimizer.learning_rate() * factor_));
    cooling_ = cooldown_;
    wait_ = 0;
  }

 private:
  Monitor monitor_;
  double factor_;
  std::size_t patience_, cooldown_, wait_ = 0, cooling_ = 0;
  double min_lr_;
};

}  // namespace tinydl
