#pragma once
/// @file dense.hpp
/// `Dense`: a fully connected layer (PyTorch's `nn.Linear`).
///
/// For a batch x of shape (N, in), weight W (out, in) and bias b (out):
///
///     forward    y  = x W^T + b                       y: (N, out)   one GEMM (N, T), bias in its epilogue
///     backward   dW += dy^T x                         (out, in)     GEMM (T, N)
///                db += sum over the batch of dy       (out)
///                dx  = dy W                           (N, in)       GEMM (N, N)

#include <cstddef>
#include <string>
#include <vector>

#include "tinydl/core/init.hpp"
#include "tinydl/kernels/elementwise.hpp"
#include "tinydl/kernels/gemm.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Fully connected layer: `units` outputs, each a weighted sum of all input features plus a bias.
/// Input (N, in_features); use `Flatten` first for images.
template <typename T>
class Dense : public Layer<T> {
 public:
  /// `units` outputs; weights drawn with `init` (He normal suits a following ReLU), bias zero.
  explicit Dense(std::size_t units, bool use_bias = true, Initializer init = Initializer::he_normal)
      : units_(units), use_bias_(use_bias), init_(init) {
    check<ConfigError>(units > 0, "Dense: units must be at least 1");
  }

  std::string type() const override { return "Dense"; }
  std::size_t units() const { return units_; }
  std::size_t in_features() const { return in_features_; }

  Shape output_shape(const Shape& input) const override {
    check<ShapeError>(input.rank() == 2, this->who(), ": expected input (N, features), got ", input,
                      input.rank() > 2 ? " (add a Flatten layer before it)" : "");
    check<ShapeError>(in_features_ == 0 || input[1] == in_features_, this->who(), ": expected input (N, ",
                      in_features_, "), got ", input);
    return Shape{input[0], units_};
  }

  std::uint64_t parameter_count(const Shape& input) const override {
    if (input.rank() != 2) return 0;
    const bool full = input[1] == std::numeric_limits<std::uint64_t>::max();
    return saturating_multiply(units_, full ? input[1] : std::uint64_t{input[1]} + (use_bias_ ? 1 : 0));
  }

  std::vector<Param<T>> params() override {
    std::vector<Param<T>> p{{"weight", weight_.view(), weight_grad_.view()}};
    if (use_bias_) p.push_back({"bias", bias_.view(), bias_grad_.view()});
    return p;
  }

  nlohmann::json config() const override {
    return {{"units", units_}, {"use_bias", use_bias_}, {"init", initializer_name(init_)}};
  }

 protected:
  void build_impl(const Shape& input, const CounterRng& rng, std::uint64_t stream) override {
    in_features_ = input[1];
    weight_ = Tensor<T>(Shape{units_, in_features_});
    weight_grad_ = Tensor<T>(weight_.shape());
    initialize(init_, weight_.view(), in_features_, units_, rng, stream);
    if (use_bias_) {
      bias_ = Tensor<T>(Shape{units_});
      bias_grad_ = Tensor<T>(bias_.shape());
      initialize_bias(init_, bias_.view(), in_features_, rng, stream + 1);
    }
  }

  void forward_impl(TensorView<const T> x, TensorView<T> y, Mode) override {
    const std::size_t n = x.shape()[0];
    kernels::GemmEpilogue<T> epilogue;
    epilogue.col_bias = use_bias_ ? bias_.data() : nullptr;
    kernels::gemm(kernels::Trans::no, kernels::Trans::yes, n, units_, in_features_, T(1), x.data(),
                  in_features_, weight_.data(), in_features_, T(0), y.data(), units_, epilogue);
  }

  void backward_impl(TensorView<const T> x, TensorView<const T>, TensorView<const T> dy,
                     TensorView<T> dx) override {
    const std::size_t n = x.shape()[0];
    using kernels::Trans;
    kernels::gemm(Trans::yes, Trans::no, units_, in_features_, n, T(1), dy.data(), units_, x.data(),
                  in_features_, T(1), weight_grad_.data(), in_features_);
    if (use_bias_) kernels::add_column_sums(n, units_, dy.data(), units_, bias_grad_.data());
    if (dx.data())
      kernels::gemm(Trans::no, Trans::no, n, in_features_, units_, T(1), dy.data(), units_, weight_.data(),
                    in_features_, T(0), dx.data(), in_features_);
  }

 private:
  std::size_t units_, in_features_ = 0;
  bool use_bias_;
  Initializer init_;
  Tensor<T> weight_, weight_grad_, bias_, bias_grad_;
};

}  // namespace tinydl
