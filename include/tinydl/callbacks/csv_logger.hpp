#pragma once
/// @file csv_logger.hpp
/// `CSVLogger`: appends one row per epoch (the columns of `History::to_csv`) to a CSV file as
/// training goes, flushed each epoch, so a crashed run still leaves its log.

#include <fstream>
#include <string>

#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Keras's CSVLogger.
template <typename T>
class CSVLogger : public Callback<T> {
 public:
  /// `append`: add to an existing file (for a resumed run) instead of starting a new one.
  explicit CSVLogger(std::string path, bool append = false) : path_(std::move(path)), append_(append) {}

  void on_train_begin(Sequential<T>&, const TrainInfo& info) override {
    writes_ = info.writes_files();  // in data-parallel training, rank 0 alone writes
    if (!writes_) return;
    std::ifstream existing(path_);
    const bool has_header =
        append_ && existing.good() && existing.peek() != std::ifstream::traits_type::eof();
    out_.open(path_, append_ ? std::ios::app : std::ios::trunc);
    check<IoError>(out_.good(), path_, ": cannot open for writing");
    if (!has_header) out_ << History().to_csv() << std::flush;  // the header line
  }

  void on_epoch_end(Sequential<T>&, const EpochLogs& logs) override {
    if (!writes_) return;
    out_ << History::csv_row(logs) << "\n" << std::flush;
    check<IoError>(out_.good(), path_, ": write failed");
  }

  void on_train_end(Sequential<T>&, const History&) override { out_.close(); }

 private:
  std::string path_;
  bool append_;
  bool writes_ = true;
  std::ofstream out_;
};

}  // namespace tinydl
