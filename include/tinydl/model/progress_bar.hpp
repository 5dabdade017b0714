#pragma once
/// @file progress_bar.hpp
/// `ProgressBar`: Keras-like progress while training. On a terminal, a bar redrawn in place
/// (at most 10 times a second) with steps done, ETA, time per step and the running loss and
/// accuracy; elsewhere (a log file, CI) one plain line per epoch, so logs stay readable.
///
/// It lives in model/ (not callbacks/) because `fit` adds one for `verbose` > 0, as Keras's fit
/// adds its ProgbarLogger: the training loop needs it, and a header may only include its own
/// folder and the folders before it.

#include <chrono>
#include <cmath>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

#include "tinydl/model/callback.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace tinydl {

/// True when standard output is a terminal (not a pipe or file).
inline bool stdout_is_terminal() {
#if defined(__unix__) || defined(__APPLE__)
  return ::isatty(STDOUT_FILENO) == 1;
#else
  return false;
#endif
}

/// Prints training progress; `fit` adds one when `verbose` > 0.
template <typename T>
class ProgressBar : public Callback<T> {
 public:
  /// `automatic`: a bar when writing to std::cout on a terminal, else lines. `bar` / `lines` force one.
  enum class Style { automatic, bar, lines };

  explicit ProgressBar(std::ostream& out = std::cout, Style style = Style::automatic)
      : out_(out), style_(style) {}

  void on_train_begin(Sequential<T>&, const TrainInfo& info) override {
    info_ = info;
    bar_ =
        style_ == Style::bar || (style_ == Style::automatic && &out_ == &std::cout && stdout_is_terminal());
  }

  void on_epoch_begin(Sequential<T>&, std::size_t epoch) override {
    epoch_start_ = last_draw_ = Clock::now();
    loss_sum_ = correct_sum_ = 0;
    seen_ = 0;
    if (bar_) out_ << "Epoch " << epoch + 1 << "/" << info_.epochs << "\n" << std::flush;
  }

  void on_batch_end(Sequential<T>&, const BatchLogs& logs) override {
    loss_sum_ += logs.loss * logs.size;
    correct_sum_ += logs.accuracy * logs.size;
    seen_ += logs.size;
    if (!bar_) return;
    const auto now = Clock::now();
    const bool last = logs.batch + 1 == info_.batches_per_epoch;
    if (!last && seconds(last_draw_, now) < 0.1) return;
    last_draw_ = now;
    const std::size_t done = logs.batch + 1;
    const double per_step = seconds(epoch_start_, now) / done;
    std::ostringstream line;
    line << "\r" << counter(done) << " " << bar(done)
         << " - ETA: " << duration(per_step * (info_.batches_per_epoch - done)) << " - "
         << step_time(per_step) << " - loss: " << fixed(loss_sum_ / seen_);
    if (!std::isnan(correct_sum_))
      line << " - accuracy: " << fixed(correct_sum_ / seen_);  // (none: a regression)
    line << "   ";
    out_ << line.str() << std::flush;
  }

  void on_epoch_end(Sequential<T>&, const EpochLogs& logs) override {
    const double per_step = logs.seconds / std::max<std::size_t>(1, info_.batches_per_epoch);
    std::ostringstream line;
    if (bar_) {
      line << "\r" << counter(info_.batches_per_epoch) << " " << bar(info_.batches_per_epoch) << " - "
           << duration(logs.seconds) << " " << step_time(per_step);
    } else {
      line << "Epoch " << logs.epoch + 1 << "/" << info_.epochs << " - " << info_.batches_per_epoch
           << " steps - " << std::fixed << std::setprecision(1) << logs.seconds << "s ("
           << step_time(per_step) << ")";
    }
    line << " - loss: " << fixed(logs.loss);
    if (!std::isnan(logs.accuracy)) line << " - accuracy: " << fixed(logs.accuracy);
    if (!std::isnan(logs.val_loss)) line << " - val_loss: " << fixed(logs.val_loss);
    if (!std::isnan(logs.val_accuracy)) line << " - val_accuracy: " << fixed(logs.val_accuracy);
    if (!bar_) line << std::defaultfloat << std::setprecision(6) << " - lr: " << logs.learning_rate;
    out_ << line.str() << "\n" << std::flush;
  }

  void on_train_end(Sequential<T>&, const History& history) override {
    if (!history.stop_reason.empty())
      out_ << "Training stopped: " << history.stop_reason << "\n" << std::flush;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static double seconds(Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double>(b - a).count();
  }

  std::string counter(std::size_t done) const {
    const std::string total = std::to_string(info_.batches_per_epoch);
    std::string text = std::to_string(done);
    return std::string(total.size() - std::min(total.size(), text.size()), ' ') + text + "/" + total;
  }

  std::string bar(std::size_t done) const {
    const std::size_t width = 30, filled = width * done / std::max<std::size_t>(1, info_.batches_per_epoch);
    std::string text = "[" + std::string(filled, '=');
    if (filled < width) text += ">" + std::string(width - filled - 1, '.');
    return text + "]";
  }

  static std::string fixed(double v) {
    std::ostringstream s;
    s << std::fixed << std::setprecision(4) << v;
    return s.str();
  }

  static std::string duration(double s) {
    std::ostringstream text;
    if (s >= 3600)
      text << static_cast<long>(s) / 3600 << ":" << std::setw(2) << std::setfill('0')
           << (static_cast<long>(s) / 60) % 60 << ":" << std::setw(2) << static_cast<long>(s) % 60;
    else if (s >= 60)
      text << static_cast<long>(s) / 60 << ":" << std::setw(2) << std::setfill('0')
           << static_cast<long>(s) % 60;
    else
      text << static_cast<long>(std::lround(s)) << "s";
    return text.str();
  }

  static std::string step_time(double s) {
    std::ostringstream text;
    if (s >= 1)
      text << std::fixed << std::setprecision(2) << s << "s/step";
    else
      text << static_cast<long>(std::lround(s * 1000)) << "ms/step";
    return text.str();
  }

  std::ostream& out_;
  Style style_;
  bool bar_ = false;
  TrainInfo info_;
  Clock::time_point epoch_start_, last_draw_;
  double loss_sum_ = 0, correct_sum_ = 0;
  std::size_t seen_ = 0;
};

}  // namespace tinydl
