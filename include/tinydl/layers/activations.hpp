#pragma once
/// @file activations.hpp
/// Elementwise activations: `ReLU`, `LeakyReLU`, `Sigmoid`, `Tanh`. Each is a small function
/// object giving f(x) and f'(x) (from x or from y = f(x), whichever is cheaper), plugged into one
/// layer template, `Pointwise`:
///
///     forward    y = f(x)                 backward   dx = dy * f'(x)

#include <cmath>
#include <string>
#include <type_traits>

#include "tinydl/core/parallel.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

namespace activation {

/// f(x) = max(x, 0);  f'(x) = 1 for x > 0, else 0 (PyTorch's choice at 0).
struct Relu {
  static constexpr const char* type = "ReLU";
  // NaN passes through, as in PyTorch (a "x > 0 ? x : 0" maps it to 0: a NaN input then trains
  // on silently with a finite loss). Every other value, -0 included, gives what it always did.
  template <typename T>
  T value(T x) const {
    return x > T(0) || x != x ? x : T(0);
  }
  template <typename T>
  T derivative(T x, T) const {
    return x > T(0) ? T(1) : T(0);
  }
  nlohmann::json config() const { return nlohmann::json::object(); }
};

/// f(x) = x for x > 0, else negative_slope * x.
struct LeakyRelu {
  static constexpr const char* type = "LeakyReLU";
  double negative_slope = 0.01;
  template <typename T>
  T value(T x) const {
    return x > T(0) ? x : static_cast<T>(negative_slope) * x;
  }
  template <typename T>
  T derivative(T x, T) const {
    return x > T(0) ? T(1) : static_cast<T>(negative_slope);
  }
  nlohmann::json config() const { return {{"negative_slope", negative_slope}}; }
};

/// f(x) = 1 / (1 + e^-x), computed without overflow for large |x|;  f'(x) = y (1 - y).
struct Sigmoid {
  static constexpr const char* type = "Sigmoid";
  template <typename T>
  T value(T x) const {
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
  template <typename T>
  T derivative(T, T y) const {
    return y * (T(1) - y);
  }
  nlohmann::json config() const { return nlohmann::json::object(); }
};

/// f(x) = tanh(x);  f'(x) = 1 - y^2.
struct Tanh {
  static constexpr const char* type = "Tanh";
  template <typename T>
  T value(T x) const {
    return std::tanh(x);
  }
  template <typename T>
  T derivative(T, T y) const {
    return T(1) - y * y;
  }
  nlohmann::json config() const { return nlohmann::json::object(); }
};

}  // namespace activation

/// A layer applying `Function` to every element; any input shape.
template <typename T, typename Function>
class Pointwise : public Layer<T> {
 public:
  /// Arguments, if any, initialise the function: `LeakyReLU<float>(0.2)`.
  template <typename... Args>
  explicit Pointwise(Args... args) : f_{args...} {}

  std::string type() const override { return Function::type; }
  const Function& function() const { return f_; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() >= 1, this->who(), ": empty input shape");
    return input;
  }

  nlohmann::json config() const override { return f_.config(); }

  /// A ReLU's backward depends on its output alone: a MaxPool2D after it can do it.
  bool backward_is_relu() const override { return std::is_same_v<Function, activation::Relu>; }

  /// A ReLU folds into the output stage of the layer before it (its kernel's epilogue).
  bool fold_into(OutputStage<T>& stage) const override {
    if constexpr (!std::is_same_v<Function, activation::Relu>) return false;
    if (stage.pooled) return false;
    stage.relu = true;
    return true;
  }

 protected:
  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    // Plain pointers and a copy of f: the loop then vectorises (nothing it stores can alias them).
    parallel_ranges(x.size(), [f = f_, in = x.data(), out = y.data()](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) out[i] = f.value(in[i]);
    });
  }

  void backward_impl(TensorView<const T> x, TensorView<const T> y, TensorView<const T> dy,
                     TensorView<T> dx) override {
    if (!dx.data()) return;
    parallel_ranges(x.size(), [f = f_, in = x.data(), out = y.data(), grad_out = dy.data(),
                               grad_in = dx.data()](std::size_t begin, std::size_t end) {
      for (std::size_t i = begin; i < end; ++i) grad_in[i] = grad_out[i] * f.derivative(in[i], out[i]);
    });
  }

 private:
  Function f_;
};

template <typename T>
using ReLU = Pointwise<T, activation::Relu>;
template <typename T>
using LeakyReLU = Pointwise<T, activation::LeakyRelu>;
template <typename T>
using Sigmoid = Pointwise<T, activation::Sigmoid>;
template <typename T>
using Tanh = Pointwise<T, activation::Tanh>;

}  // namespace tinydl
