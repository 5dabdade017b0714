#pragma once
/// @file history.hpp
/// `EpochLogs` (the numbers of one epoch, as callbacks see them) and `History` (all epochs of a
/// `fit`, with CSV and JSON export).

#include <cmath>
#include <cstddef>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/core/error.hpp"
#include "tinydl/io/file.hpp"

namespace tinydl {

/// The metrics of one epoch. Validation metrics are NaN when there is no validation data.
struct EpochLogs {
  std::size_t epoch = 0;  ///< 0-based
  double loss = 0, accuracy = 0;
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();
  bool has_validation = false;  ///< whether fit has validation data (val_* are NaN when it has none,
                                ///< and in an epoch that a stop cut short before validation)
  double learning_rate = 0;     ///< used during this epoch
  double seconds = 0;           ///< wall time of the epoch, validation included

  /// The metric called `name` ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
  /// "seconds"). Throws `ConfigError` for any other name: a typo in a monitor must not pass silently.
  double get(const std::string& name) const {
    if (name == "loss") return loss;
    if (name == "accuracy") return accuracy;
    if (name == "val_loss") return val_loss;
    if (name == "val_accuracy") return val_accuracy;
    if (name == "learning_rate") return learning_rate;
    if (name == "seconds") return seconds;
    throw ConfigError("unknown metric '" + name +
                      "' (expected loss, accuracy, val_loss, val_accuracy, learning_rate or seconds)");
  }

  static const std::vector<std::string>& metric_names() {
    static const std::vector<std::string> names{"loss",         "accuracy",      "val_loss",
                                                "val_accuracy", "learning_rate", "seconds"};
    return names;
  }
};

/// The per-epoch record of a training run, returned by `Sequential::fit`.
class History {
 public:
  std::vector<EpochLogs> epochs;
  /// Why training ended before the last epoch ("" if it ran them all): the callback's message.
  std::string stop_reason;

  bool empty() const { return epochs.empty(); }
  std::size_t size() const { return epochs.size(); }

  /// The values of one metric over the epochs.
  std::vector<double> values(const std::string& metric) const {
    std::vector<double> out;
    for (const auto& e : epochs) out.push_back(e.get(metric));
    return out;
  }

  /// One header line (epoch and the metrics) and one line per epoch; NaN is written as empty.
  std::string to_csv() const {
    std::ostringstream out;
    out.precision(10);
    out << "epoch";
    for (const auto& name : EpochLogs::metric_names()) out << ',' << name;
    out << '\n';
    for (const auto& e : epochs) out << csv_row(e) << '\n';
    return out.str();
  }

  /// {"epochs": [{"epoch": 0, "loss": ...}, ...], "stop_reason": "..."}; NaN becomes null.
  nlohmann::json to_json() const {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& e : epochs) {
      nlohmann::json row{{"epoch", e.epoch}};
      for (const auto& name : EpochLogs::metric_names()) {
        const double v = e.get(name);
        row[name] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
      }
      list.push_back(row);
    }
    return {{"epochs", list}, {"stop_reason", stop_reason}};
  }

  /// Writes `to_csv()` to `path` (atomically). Throws `IoError` on failure.
  void save_csv(const std::string& path) const {
    const std::string text = to_csv();
    io::write_file_atomically(path, text.data(), text.size());
  }

  /// Writes `to_json()` to `path` (atomically). Throws `IoError` on failure.
  void save_json(const std::string& path) const {
    const std::string text = to_json().dump(2) + "\n";
    io::write_file_atomically(path, text.data(), text.size());
  }

  /// "3,0.41,0.85,..." for one epoch, in the column order of `to_csv`.
  static std::string csv_row(const EpochLogs& e) {
    std::ostringstream out;
    out.precision(10);
    out << e.epoch;
    for (const auto& name : EpochLogs::metric_names()) {
      out << ',';
      const double v = e.get(name);
      if (!std::isnan(v)) out << v;
    }
    return out.str();
  }
};

}  // namespace tinydl
