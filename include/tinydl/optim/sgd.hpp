#pragma once
/// @file sgd.hpp
/// `SGD`: stochastic gradient descent with optional momentum and Nesterov momentum, as PyTorch:
///
///     g = g + weight_decay * p
///     b = momentum * b + g   (b starts at 0, so b = g at the first step)    (when momentum > 0)
///     g = g + momentum * b (Nesterov)   or   g = b           (when momentum > 0)
///     p = p - lr * g

#include <string>

#include "tinydl/kernels/optimizer_updates.hpp"
#include "tinydl/optim/optimizer.hpp"

namespace tinydl {

/// Plain, momentum or Nesterov SGD.
template <typename T>
class SGD : public Optimizer<T> {
 public:
  explicit SGD(double learning_rate, double momentum = 0, bool nesterov = false, double weight_decay = 0)
      : Optimizer<T>(learning_rate, {"momentum_buffer"}),
        momentum_(momentum),
        nesterov_(nesterov),
        weight_decay_(weight_decay) {
    check<ConfigError>(momentum >= 0 && weight_decay >= 0,
                       "SGD: momentum and weight_decay must be non-negative");
    check<ConfigError>(!nesterov || momentum > 0, "SGD: Nesterov momentum needs momentum > 0");
  }

  std::string type() const override { return "SGD"; }
  nlohmann::json config() const override {
    return {{"learning_rate", this->learning_rate()},
            {"momentum", momentum_},
            {"nesterov", nesterov_},
            {"weight_decay", weight_decay_}};
  }

 protected:
  void update(std::size_t index, TensorView<T> p, TensorView<const T> g) override {
    kernels::sgd_update(p.size(), static_cast<T>(this->learning_rate()), static_cast<T>(momentum_),
                        static_cast<T>(weight_decay_), nesterov_, p.data(), g.data(),
                        this->slot_data(0, index));
  }

 private:
  double momentum_;
  bool nesterov_;
  double weight_decay_;
};

}  // namespace tinydl
