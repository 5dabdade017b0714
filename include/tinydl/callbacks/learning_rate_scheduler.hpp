#pragma once
/// @file learning_rate_scheduler.hpp
/// `LearningRateScheduler`: sets the optimizer's learning rate before every training step from a
/// schedule, a function of where the step stands in the run. The schedules users know:
///
///     step_decay(every, gamma)      lr = base * gamma^floor(epoch / every)        (PyTorch StepLR)
///     cosine_decay(warmup, min_lr)  lr = base * (s + 1) / warmup            for s < warmup, then
///                                   lr = min_lr + (base - min_lr) * (1 + cos(pi * t)) / 2,
///                                   t = (s - warmup) / (total - warmup) going from 0 towards 1
///     one_cycle(max_lr, ...)        PyTorch's OneCycleLR (cosine annealing, two phases): from
///                                   max_lr / div_factor up to max_lr over the first pct_start
///                                   of the steps, then down to that / final_div_factor
///
/// s is the step's index in the whole run (epoch * steps_per_epoch + batch), so a run resumed at
/// `initial_epoch` continues the schedule where it stopped. A schedule is a plain function: any
/// other is a lambda away.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <utility>

#include "tinydl/model/sequential.hpp"

namespace tinydl {

/// Where a training step stands in its run, as a schedule sees it.
struct ScheduleStep {
  std::size_t step = 0;             ///< 0-based over the whole run: epoch * steps_per_epoch + batch
  std::size_t epoch = 0;            ///< 0-based
  std::size_t steps_per_epoch = 0;  ///< batches per epoch
  std::size_t total_steps = 0;      ///< steps of the whole run, epoch 0 to FitOptions::epochs
  double base_lr = 0;               ///< the learning rate the schedule starts from
};

/// A learning rate for each step.
using LearningRateSchedule = std::function<double(const ScheduleStep&)>;

namespace schedules {

inline constexpr double pi = 3.14159265358979323846;

/// PyTorch's StepLR: the base rate times `gamma` once every `every_epochs` epochs.
inline LearningRateSchedule step_decay(std::size_t every_epochs, double gamma) {
  check<ConfigError>(every_epochs > 0, "step_decay: every_epochs must be at least 1");
  check<ConfigError>(gamma > 0 && gamma <= 1, "step_decay: gamma must be in (0, 1], got ", gamma);
  return [every_epochs, gamma](const ScheduleStep& s) {
    return s.base_lr * std::pow(gamma, static_cast<double>(s.epoch / every_epochs));
  };
}

/// Linear warm-up over `warmup_steps` steps (none when 0), then a half cosine from the base rate
/// down to `min_lr` at the end of the run.
inline LearningRateSchedule cosine_decay(std::size_t warmup_steps = 0, double min_lr = 0) {
  check<ConfigError>(min_lr >= 0, "cosine_decay: min_lr must be non-negative, got ", min_lr);
  return [warmup_steps, min_lr](const ScheduleStep& s) {
    if (s.step < warmup_steps)
      return s.base_lr * static_cast<double>(s.step + 1) / static_cast<double>(warmup_steps);
    const double span = static_cast<double>(s.total_steps > warmup_steps ? s.total_steps - warmup_steps : 1);
    const double t = std::min(1.0, static_cast<double>(s.step - warmup_steps) / span);
    return min_lr + (s.base_lr - min_lr) * (1 + std::cos(pi * t)) / 2;
  };
}

/// PyTorch's OneCycleLR with anneal_strategy "cos" and two phases (its defaults; the momentum is
/// not cycled): the rate rises from max_lr / div_factor to max_lr over the first `pct_start` of
/// the run's steps, then falls to max_lr / div_factor / final_div_factor at the last step. The
/// optimizer's own rate is not used.
inline LearningRateSchedule one_cycle(double max_lr, double pct_start = 0.3, double div_factor = 25,
                                      double final_div_factor = 1e4) {
  check<ConfigError>(max_lr > 0, "one_cycle: max_lr must be positive, got ", max_lr);
  check<ConfigError>(pct_start > 0 && pct_start < 1, "one_cycle: pct_start must be in (0, 1), got ",
                     pct_start);
  check<ConfigError>(div_factor > 0 && final_div_factor > 0, "one_cycle: the div factors must be positive");
  return [=](const ScheduleStep& s) {
    const double initial = max_lr / div_factor, last = initial / final_div_factor;
    // PyTorch's phase ends, in its arithmetic: the first ends at step pct_start * total - 1
    const double rise_end = pct_start * static_cast<double>(s.total_steps) - 1;
    const double fall_end = static_cast<double>(s.total_steps) - 1, step = static_cast<double>(s.step);
    const auto anneal = [](double from, double to, double pct) {
      return to + (from - to) / 2 * (std::cos(pi * pct) + 1);
    };
    if (step <= rise_end) return anneal(initial, max_lr, step / rise_end);
    return anneal(max_lr, last, (step - rise_end) / (fall_end - rise_end));
  };
}

}  // namespace schedules

/// Sets the learning rate of every training step from `schedule` (see the file comment). The
/// base rate is `base_lr` when given, else the optimizer's rate when the first `fit` begins;
/// when resuming from a saved training state in a new process, pass the run's base rate (the
/// saved optimizer rate is the last step's). Keras's LearningRateScheduler, per step.
template <typename T>
class LearningRateScheduler : public Callback<T> {
 public:
  explicit LearningRateScheduler(LearningRateSchedule schedule, double base_lr = 0)
      : schedule_(std::move(schedule)), base_lr_(base_lr) {
    check<ConfigError>(static_cast<bool>(schedule_), "LearningRateScheduler: no schedule");
    check<ConfigError>(base_lr >= 0, "LearningRateScheduler: base_lr must be non-negative, got ", base_lr);
  }

  void on_train_begin(Sequential<T>& model, const TrainInfo& info) override {
    if (base_lr_ == 0) base_lr_ = model.optimizer().learning_rate();
    info_ = info;
    apply(model, info.initial_epoch, 0);
  }

  void on_batch_end(Sequential<T>& model, const BatchLogs& logs) override {
    if (logs.batch + 1 < info_.batches_per_epoch)
      apply(model, logs.epoch, logs.batch + 1);
    else if (logs.epoch + 1 < info_.epochs)
      apply(model, logs.epoch + 1, 0);
  }

  /// The base rate the schedule runs from (0 before the first fit when none was given).
  double base_lr() const { return base_lr_; }

 private:
  void apply(Sequential<T>& model, std::size_t epoch, std::size_t batch) {
    ScheduleStep s;
    s.epoch = epoch;
    s.steps_per_epoch = info_.batches_per_epoch;
    s.step = epoch * s.steps_per_epoch + batch;
    s.total_steps = info_.epochs * s.steps_per_epoch;
    s.base_lr = base_lr_;
    model.optimizer().set_learning_rate(schedule_(s));
  }

  LearningRateSchedule schedule_;
  double base_lr_;
  TrainInfo info_;
};

}  // namespace tinydl
