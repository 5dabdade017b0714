#pragma once
/// @file profile.hpp
/// `TrainingProfile`: where a training step's time goes, layer by layer. `Sequential` fills one
/// when profiling is on (`model.set_profiling(true)`); the comparison example prints it with
/// `--profile`. Timing uses a steady clock around each layer's forward and backward call, so its
/// overhead is two clock reads per layer call (tens of nanoseconds against milliseconds).

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace tinydl {

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
    std::snprintf(line, sizeof line, "%-22s %12s %12s %12s %8s\n", "part", "forward ms", "backward ms", "total ms",
                  "share");
    out += line;
    auto row = [&](const std::string& name, double forward, double backward, bool split) {
      const double sum = forward + backward;
      if (split)
        std::snprintf(line, sizeof line, "%-22s %12.3f %12.3f %12.3f %7.1f%%\n", name.c_str(), forward * per_step,
                      backward * per_step, sum * per_step, total > 0 ? 100 * sum / total : 0.0);
      else
        std::snprintf(line, sizeof line, "%-22s %12s %12s %12.3f %7.1f%%\n", name.c_str(), "", "", sum * per_step,
                      total > 0 ? 100 * sum / total : 0.0);
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

namespace detail {

/// Adds the seconds between construction and destruction to `*sink` (nothing when null).
class ProfileTimer {
public:
  explicit ProfileTimer(double* sink) : sink_(sink) {
    if (sink_) start_ = std::chrono::steady_clock::now();
  }
  ~ProfileTimer() {
    if (sink_) *sink_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  ProfileTimer(const ProfileTimer&) = delete;
  ProfileTimer& operator=(const ProfileTimer&) = delete;

private:
  double* sink_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace detail
}  // namespace tinydl
