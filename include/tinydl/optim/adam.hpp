#pragma once
/// @file adam.hpp
/// `Adam` (Kingma & Ba, 2015) and `AdamW` (Loshchilov & Hutter, 2019), computed as PyTorch does.
/// At step t, for parameter p with gradient g:
///
///     g  = g + weight_decay * p                    (Adam only: L2 penalty in the gradient)
///     p  = p * (1 - lr * weight_decay)             (AdamW only: decoupled decay)
///     m  = beta1 * m + (1 - beta1) * g             v = beta2 * v + (1 - beta2) * g^2
///     p  = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

#include <cmath>
#include <string>

#include "tinydl/kernels/optimizer_updates.hpp"
#include "tinydl/optim/optimizer.hpp"

namespace tinydl {

/// Adam with bias correction; `weight_decay` adds an L2 penalty to the gradient.
template <typename T>
class Adam : public Optimizer<T> {
 public:
  explicit Adam(double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                double weight_decay = 0)
      : Adam(learning_rate, beta1, beta2, eps, weight_decay, false) {}

  std::string type() const override { return decoupled_ ? "AdamW" : "Adam"; }
  nlohmann::json config() const override {
    return {{"learning_rate", this->learning_rate()},
            {"beta1", beta1_},
            {"beta2", beta2_},
            {"eps", eps_},
            {"weight_decay", weight_decay_}};
  }

 protected:
  Adam(double learning_rate, double beta1, double beta2, double eps, double weight_decay, bool decoupled)
      : Optimizer<T>(learning_rate, {"exp_avg", "exp_avg_sq"}),
        beta1_(beta1),
        beta2_(beta2),
        eps_(eps),
        weight_decay_(weight_decay),
        decoupled_(decoupled) {
    check<ConfigError>(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, type(),
                       ": betas must be in [0, 1), got (", beta1, ", ", beta2, ")");
    check<ConfigError>(eps >= 0 && weight_decay >= 0, type(), ": eps and weight_decay must be non-negative");
  }

  void update(std::size_t index, TensorView<T> p, TensorView<const T> g) override {
    const double t = static_cast<double>(this->iterations()), lr = this->learning_rate();
    kernels::AdamStep<T> step;
    step.beta1 = static_cast<T>(beta1_);
    step.beta2 = static_cast<T>(beta2_);
    step.eps = static_cast<T>(eps_);
    step.step_size = static_cast<T>(lr / (1 - std::pow(beta1_, t)));
    step.correction2_sqrt = static_cast<T>(std::sqrt(1 - std::pow(beta2_, t)));
    step.decay = decoupled_ ? T(0) : static_cast<T>(weight_decay_);
    step.shrink = decoupled_ ? static_cast<T>(1 - lr * weight_decay_) : T(1);
    kernels::adam_update(p.size(), step, p.data(), g.data(), this->slot_data(0, index),
                         this->slot_data(1, index));
  }

 private:
  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
};

/// AdamW: Adam with decoupled weight decay (default 0.01, as PyTorch).
template <typename T>
class AdamW : public Adam<T> {
 public:
  explicit AdamW(double learning_rate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8,
                 double weight_decay = 0.01)
      : Adam<T>(learning_rate, beta1, beta2, eps, weight_decay, true) {}
};

}  // namespace tinydl
