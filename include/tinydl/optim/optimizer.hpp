#pragma once
/// @file optimizer.hpp
/// `Optimizer<T>`: the base of the optimizers. It walks the trainable parameters (those with a
/// gradient) in order and keeps per-parameter state ("slots": Adam's moments, SGD's momentum),
/// created on the first step with the parameters' shapes.

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Base class of the optimizers: `step(params)` updates every trainable parameter from its gradient.
template <typename T>
class Optimizer {
 public:
  /// `slot_names`: the per-parameter state this optimizer keeps ("exp_avg", ...).
  Optimizer(double learning_rate, std::vector<std::string> slot_names)
      : slot_names_(std::move(slot_names)), slots_(slot_names_.size()) {
    set_learning_rate(learning_rate);
  }
  virtual ~Optimizer() = default;

  /// "Adam", "AdamW", "SGD".
  virtual std::string type() const = 0;
  /// The options that recreate this optimizer.
  virtual nlohmann::json config() const = 0;

  /// One update of every trainable parameter of `params`. Pass the same parameters, in the same
  /// order, at every step (the state of parameter i is kept for parameter i); a list of other
  /// shapes throws `Error`.
  /// With a clip norm set, the gradients are first scaled as PyTorch's clip_grad_norm_ scales
  /// them (they are changed in place): see `set_clip_norm`.
  void step(const std::vector<Param<T>>& params) {
    initialize_state(params);
    if (clip_norm_ > 0) last_grad_norm_ = clip_gradients(params);
    ++iterations_;
    std::size_t index = 0;
    for (const Param<T>& p : params)
      if (p.trainable()) update(index++, p.value, p.grad);
  }

  /// Gradient clipping by global norm (Keras's global_clipnorm, PyTorch's clip_grad_norm_): before
  /// each step, with norm = the L2 norm of all trainable gradients together, every gradient is
  /// multiplied by min(1, max_norm / (norm + 1e-6)). 0 (the default) turns it off. The norm is
  /// summed in double in a fixed order: the same for any thread count, and in data-parallel
  /// training the same on every process (the gradients are the global batch's by then).
  void set_clip_norm(double max_norm) {
    check<ConfigError>(std::isfinite(max_norm) && max_norm >= 0,
                       "optimizer: clip norm must be finite and non-negative (0: off), got ", max_norm);
    clip_norm_ = max_norm;
  }
  double clip_norm() const { return clip_norm_; }
  /// The gradients' global norm before clipping at the last step (NaN before one with clipping on).
  double last_grad_norm() const { return last_grad_norm_; }

  double learning_rate() const { return learning_rate_; }
  /// Changes the learning rate for the following steps (schedules, ReduceLROnPlateau).
  void set_learning_rate(double learning_rate) {
    check<ConfigError>(std::isfinite(learning_rate) && learning_rate >= 0,
                       "optimizer: learning rate must be finite and non-negative, got ", learning_rate);
    learning_rate_ = learning_rate;
  }

  /// Steps taken so far (Adam's t).
  std::uint64_t iterations() const { return iterations_; }
  void set_iterations(std::uint64_t iterations) { iterations_ = iterations; }

  /// Creates the (zero) state of every trainable parameter that has none yet, and checks that
  /// the parameters are the ones of earlier steps. `step` calls it; call it to restore state.
  void initialize_state(const std::vector<Param<T>>& params) {
    std::size_t index = 0;
    for (const Param<T>& p : params)
      if (p.trainable()) prepare_slots(index++, p);
  }

  /// The state of parameter `index` in slot `slot` (e.g. Adam's exp_avg): for saving and restoring.
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  std::size_t slot_count() const { return slots_.empty() ? 0 : slots_[0].size(); }
  Tensor<T>& slot(std::size_t slot, std::size_t index) { return slots_.at(slot).at(index); }
  const Tensor<T>& slot(std::size_t slot, std::size_t index) const { return slots_.at(slot).at(index); }

 protected:
  /// Updates one parameter; `index` selects its slots.
  virtual void update(std::size_t index, TensorView<T> value, TensorView<const T> grad) = 0;

  T* slot_data(std::size_t slot, std::size_t index) { return slots_[slot][index].data(); }

 private:
  /// Scales the gradients to a global norm of at most clip_norm_; returns the norm before.
  double clip_gradients(const std::vector<Param<T>>& params) {
    double squares = 0;
    for (const Param<T>& p : params)
      if (p.trainable()) squares += kernels::sum_of_squares(p.grad.size(), p.grad.data());
    const double norm = std::sqrt(squares), coefficient = clip_norm_ / (norm + 1e-6);
    if (coefficient < 1) {
      const T c = static_cast<T>(coefficient);
      for (const Param<T>& p : params)
        if (p.trainable())
          for (T& g : p.grad) g *= c;
    }
    return norm;
  }

  void prepare_slots(std::size_t index, const Param<T>& p) {
    check<ShapeError>(p.grad.shape() == p.value.shape(), "optimizer: parameter '", p.name, "' has value ",
                      p.value.shape(), " but gradient ", p.grad.shape());
    for (auto& slot : slots_) {
      if (slot.size() <= index) slot.emplace_back(p.value.shape());  // first step: zero state
      check<Error>(slot[index].shape() == p.value.shape(), "optimizer: trainable parameter ", index, " ('",
                   p.name, "') is ", p.value.shape(), " but was ", slot[index].shape(),
                   " at earlier steps; use one optimizer per model");
    }
  }

  double learning_rate_ = 0;
  double clip_norm_ = 0, last_grad_norm_ = std::numeric_limits<double>::quiet_NaN();
  std::uint64_t iterations_ = 0;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor<T>>> slots_;
};

}  // namespace tinydl
