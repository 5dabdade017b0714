#pragma once
/// @file monitor.hpp
/// `Monitor`: follows one metric across epochs and says whether it improved — the logic shared
/// by EarlyStopping, ModelCheckpoint and ReduceLROnPlateau.

#include <cmath>
#include <limits>
#include <string>

#include "tinydl/core/error.hpp"
#include "tinydl/model/history.hpp"

namespace tinydl {

/// Whether a smaller or a larger value of the monitored metric is better. `automatic`: larger
/// for accuracies, smaller for everything else (losses).
enum class MonitorMode { automatic, min, max };

/// The best value so far of one metric, and the test for improvement: by more than `min_delta`.
class Monitor {
 public:
  Monitor(std::string metric, MonitorMode mode, double min_delta)
      : metric_(std::move(metric)), min_delta_(min_delta) {
    (void)EpochLogs{}.get(metric_);  // throws ConfigError for an unknown metric name
    check<ConfigError>(min_delta >= 0, "monitor: min_delta must be non-negative, got ", min_delta);
    maximize_ = mode == MonitorMode::max ||
                (mode == MonitorMode::automatic && metric_.find("accuracy") != std::string::npos);
    reset();
  }

  void reset() {
    best_ = maximize_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  }

  const std::string& metric() const { return metric_; }
  double best() const { return best_; }

  /// The monitored value of `logs`; throws `Error` for a val_* metric when the epoch had no
  /// validation. A NaN that validation measured is returned as it is (it never improves), so
  /// TerminateOnNaN's message is the one the user sees, not a misleading one from here.
  double value(const EpochLogs& logs) const {
    const double v = logs.get(metric_);
    const bool validation = metric_.compare(0, 4, "val_") == 0;
    check<Error>(logs.has_validation || !validation, "monitor '", metric_,
                 "' needs validation data: pass validation data or a validation_split to fit()");
    // A regression (a model trained with MeanSquaredError) has no accuracy: NaN beside a finite
    // loss. Monitored, it would never improve and stop or checkpoint nothing, without a word.
    check<Error>(!std::isnan(v) || metric_.find("accuracy") == std::string::npos ||
                     std::isnan(validation ? logs.val_loss : logs.loss),
                 "monitor '", metric_, "': the model reports no accuracy (a regression); monitor '",
                 validation ? "val_loss" : "loss", "' instead");
    return v;
  }

  /// True, and the best value updated, when `logs` improves on the best by more than min_delta.
  bool improved(const EpochLogs& logs) {
    const double v = value(logs);
    const bool better = maximize_ ? v > best_ + min_delta_ : v < best_ - min_delta_;
    if (better) best_ = v;
    return better;
  }

 private:
  std::string metric_;
  double min_delta_;
  bool maximize_ = false;
  double best_ = 0;
};

}  // namespace tinydl
