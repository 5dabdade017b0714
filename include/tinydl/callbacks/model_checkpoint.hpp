#pragma once
/// @file model_checkpoint.hpp
/// `ModelCheckpoint`: saves the model after epochs — every epoch, or only when the monitored
/// metric improves. Each save is atomic (temporary file + rename): a crash or a full disk during
/// a save leaves the previous checkpoint whole.

#include <string>

#include "tinydl/callbacks/monitor.hpp"
#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Keras's ModelCheckpoint. `path` may contain "{epoch}" (1-based), replaced at each save.
template <typename T>
class ModelCheckpoint : public Callback<T> {
 public:
  explicit ModelCheckpoint(std::string path, std::string monitor = "val_loss", bool save_best_only = true,
                           MonitorMode mode = MonitorMode::automatic)
      : path_(std::move(path)), monitor_(std::move(monitor), mode, 0), save_best_only_(save_best_only) {
    check<ConfigError>(!path_.empty(), "ModelCheckpoint: empty path");
  }

  /// The file written last ("" before the first save), and the epoch (0-based) it holds.
  const std::string& last_saved() const { return last_saved_; }
  long saved_epoch() const { return saved_epoch_; }

  void on_train_begin(Sequential<T>&, const TrainInfo& info) override {
    monitor_.reset();
    writes_ = info.writes_files();
  }

  void on_epoch_end(Sequential<T>& model, const EpochLogs& logs) override {
    if (save_best_only_ && !monitor_.improved(logs)) return;
    // In data-parallel training every process tracks the best epoch; rank 0 alone writes it.
    std::string path = path_;
    const auto at = path.find("{epoch}");
    if (at != std::string::npos) path.replace(at, 7, std::to_string(logs.epoch + 1));
    if (writes_) model.save(path);
    last_saved_ = path;
    saved_epoch_ = static_cast<long>(logs.epoch);
  }

 private:
  std::string path_;
  Monitor monitor_;
  bool save_best_only_;
  bool writes_ = true;  // false on data-parallel ranks other than 0
  std::string last_saved_;
  long saved_epoch_ = -1;
};

}  // namespace tinydl
