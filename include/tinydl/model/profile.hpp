#pragma once
/// @file profile.hpp
/// Watching training steps: `StepObserver` is told when each part of a step and each layer call
/// begins and ends; `Profiler` is the observer behind `model.set_profiling(true)`, timing them
/// into a `TrainingProfile` (the comparison example prints it with `--profile`). The model only
/// calls an observer when one is set, so the training step without one pays a null test per
/// layer call; the profiler's own cost is two clock reads per call (tens of nanoseconds against
/// milliseconds).

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace tinydl {

/// The parts of a training step an observer is told about. `forward` and `backward` come once
/// per layer (training-mode passes only), except the backward of a layer that the next layer's
/// does (`Sequential::backward_done_by_next`); `evaluation` is fit's validation pass, not part
/// of a step.
enum class StepPart { data, zero_grad, forward, loss, backward, optimizer, evaluation };

/// Watches training steps (`model.set_observer(&observer)`). Parts do not nest: `end` follows its
/// `begin` before the next `begin`. `layer` is the layer's index for forward and backward, else 0.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void begin(StepPart part, std::size_t layer) = 0;
  virtual void end(StepPart part, std::size_t layer) = 0;
};

/// Seconds spent in each part of the training steps since the last reset.
struct TrainingProfile {
  /// One layer's share: forward and backward seconds over all steps.
  struct LayerTimes {
    std::string name;
    double forward = 0, backward = 0;
  };

  std::vector<LayerTimes> layers;
  double data = 0;        ///< gathering a batch and converting it to the model's type
  double zero_grad = 0;   ///< clearing the parameter gradients
  double loss = 0;        ///< softmax cross-entropy and its gradient
  double optimizer = 0;   ///< the optimizer step
  double evaluation = 0;  ///< validation passes inside fit (not part of a step)
  std::size_t steps = 0;  ///< training steps timed

  /// Everything timed in the training steps (evaluation excluded).
  double step_seconds() const {
    double total = data + zero_grad + loss + optimizer;
    for (const auto& l : layers) total += l.forward + l.backward;
    return total;
  }

  /// Zeroes every time and the step count, keeping the layer names.
  void reset() {
    for (auto& l : layers) l.forward = l.backward = 0;
    data = zero_grad = loss = optimizer = evaluation = 0;
    steps = 0;
  }

  /// A table of milliseconds per step and share of the step, one row per layer and part.
  std::string table() const {
    const double per_step = steps ? 1e3 / static_cast<double>(steps) : 0, total = step_seconds();
    std::string out;
    char line[160];
    std::snprintf(line, sizeof line, "%-22s %12s %12s %12s %8s\n", "part", "forward ms", "backward ms",
                  "total ms", "share");
    out += line;
    auto row = [&](const std::string& name, double forward, double backward, bool split) {
      const double sum = forward + backward;
      if (split)
        std::snprintf(line, sizeof line, "%-22s %12.3f %12.3f %12.3f %7.1f%%\n", name.c_str(),
                      forward * per_step, backward * per_step, sum * per_step,
                      total > 0 ? 100 * sum / total : 0.0);
      else
        std::snprintf(line, sizeof line, "%-22s %12s %12s %12.3f %7.1f%%\n", name.c_str(), "", "",
                      sum * per_step, total > 0 ? 100 * sum / total : 0.0);
      out += line;
    };
    for (const auto& l : layers) row(l.name, l.forward, l.backward, true);
    row("(batch data)", data, 0, false);
    row("(zero gradients)", zero_grad, 0, false);
    row("(loss)", loss, 0, false);
    row("(optimizer step)", optimizer, 0, false);
    std::snprintf(line, sizeof line, "%-22s %38.3f ms per step over %zu steps; validation %.2f s in all\n",
                  "step total", total * per_step, steps, evaluation);
    out += line;
    return out;
  }
};

/// Times every part and layer call a model reports into a `TrainingProfile`; a step is counted
/// at its loss (each step has exactly one).
class Profiler final : public StepObserver {
 public:
  /// Names the profile's rows, one per layer ("conv2d_0 (Conv2D)"); keeps the times when the
  /// names are those already there.
  void set_layer_names(const std::vector<std::string>& names) {
    bool same = names.size() == profile_.layers.size();
    for (std::size_t i = 0; same && i < names.size(); ++i) same = names[i] == profile_.layers[i].name;
    if (same) return;
    profile_.layers.clear();
    for (const auto& name : names) profile_.layers.push_back({name});
  }

  void begin(StepPart, std::size_t) override { start_ = std::chrono::steady_clock::now(); }

  void end(StepPart part, std::size_t layer) override {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    switch (part) {
      case StepPart::data:
        profile_.data += seconds;
        break;
      case StepPart::zero_grad:
        profile_.zero_grad += seconds;
        break;
      case StepPart::forward:
        profile_.layers.at(layer).forward += seconds;
        break;
      case StepPart::loss:
        profile_.loss += seconds;
        ++profile_.steps;
        break;
      case StepPart::backward:
        profile_.layers.at(layer).backward += seconds;
        break;
      case StepPart::optimizer:
        profile_.optimizer += seconds;
        break;
      case StepPart::evaluation:
        profile_.evaluation += seconds;
        break;
    }
  }

  const TrainingProfile& profile() const { return profile_; }
  TrainingProfile& profile() { return profile_; }

 private:
  TrainingProfile profile_;
  std::chrono::steady_clock::time_point start_;
};

namespace detail {

/// Tells `observer` (when not null) that `part` begins now and, on destruction, that it ended.
class Observed {
 public:
  Observed(StepObserver* observer, StepPart part, std::size_t layer = 0)
      : observer_(observer), part_(part), layer_(layer) {
    if (observer_) observer_->begin(part_, layer_);
  }
  ~Observed() {
    if (observer_) observer_->end(part_, layer_);
  }
  Observed(const Observed&) = delete;
  Observed& operator=(const Observed&) = delete;

 private:
  StepObserver* observer_;
  StepPart part_;
  std::size_t layer_;
};

}  // namespace detail
}  // namespace tinydl
