#pragma once
/// @file init.hpp
/// Weight initialisers. Element i of a tensor is drawn from the counter-based RNG at
/// (stream, i), so the values do not depend on the thread count or on the order of the fill.
///
/// With fan_in = inputs per output (in_features, or in_channels * kh * kw):
/// - He / Kaiming (for layers followed by ReLU): normal with std = sqrt(2 / fan_in), or uniform
///   on [-b, b] with b = sqrt(6 / fan_in) — both have variance 2 / fan_in.
/// - Glorot / Xavier: normal with std = sqrt(2 / (fan_in + fan_out)), or uniform with
///   b = sqrt(6 / (fan_in + fan_out)).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "tinydl/core/error.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl {

/// Fills `w` with draws from N(0, std^2).
template <typename T>
void fill_normal(TensorView<T> w, double std, const CounterRng& rng, std::uint64_t stream) {
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<T>(std * rng.normal(stream, i));
}

/// Fills `w` with draws from U[-bound, bound).
template <typename T>
void fill_uniform(TensorView<T> w, double bound, const CounterRng& rng, std::uint64_t stream) {
  for (std::size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<T>(bound * (2.0 * rng.uniform(stream, i) - 1.0));
}

namespace detail {
inline void check_fans(const char* who, std::size_t fan_in, std::size_t fan_out) {
  check<ConfigError>(fan_in > 0 && fan_out > 0, who, ": fan_in and fan_out must be positive, got ", fan_in,
                     " and ", fan_out);
}
}  // namespace detail

/// He (Kaiming) normal initialisation: N(0, 2 / fan_in).
template <typename T>
void he_normal(TensorView<T> w, std::size_t fan_in, const CounterRng& rng, std::uint64_t stream) {
  detail::check_fans("he_normal", fan_in, 1);
  fill_normal(w, std::sqrt(2.0 / static_cast<double>(fan_in)), rng, stream);
}

/// He (Kaiming) uniform initialisation: U[-sqrt(6 / fan_in), sqrt(6 / fan_in)).
template <typename T>
void he_uniform(TensorView<T> w, std::size_t fan_in, const CounterRng& rng, std::uint64_t stream) {
  detail::check_fans("he_uniform", fan_in, 1);
  fill_uniform(w, std::sqrt(6.0 / static_cast<double>(fan_in)), rng, stream);
}

/// Glorot (Xavier) normal initialisation: N(0, 2 / (fan_in + fan_out)).
template <typename T>
void glorot_normal(TensorView<T> w, std::size_t fan_in, std::size_t fan_out, const CounterRng& rng,
                   std::uint64_t stream) {
  detail::check_fans("glorot_normal", fan_in, fan_out);
  fill_normal(w, std::sqrt(2.0 / static_cast<double>(fan_in + fan_out)), rng, stream);
}

/// Glorot (Xavier) uniform initialisation: U[-b, b) with b = sqrt(6 / (fan_in + fan_out)).
template <typename T>
void glorot_uniform(TensorView<T> w, std::size_t fan_in, std::size_t fan_out, const CounterRng& rng,
                    std::uint64_t stream) {
  detail::check_fans("glorot_uniform", fan_in, fan_out);
  fill_uniform(w, std::sqrt(6.0 / static_cast<double>(fan_in + fan_out)), rng, stream);
}

}  // namespace tinydl

namespace tinydl {

/// How a layer's weights (and bias) are initialised; recorded in layer configs.
/// `torch_default` is what PyTorch's nn.Linear and nn.Conv2d do: weight and bias uniform on
/// [-1/sqrt(fan_in), 1/sqrt(fan_in)) (kaiming_uniform with a = sqrt(5)); every other initialiser
/// leaves the bias at zero.
enum class Initializer { he_normal, he_uniform, glorot_normal, glorot_uniform, torch_default };

/// The name of an initialiser in configs: "he_normal", ...
inline const char* initializer_name(Initializer init) {
  switch (init) {
    case Initializer::he_normal:
      return "he_normal";
    case Initializer::he_uniform:
      return "he_uniform";
    case Initializer::glorot_normal:
      return "glorot_normal";
    case Initializer::glorot_uniform:
      return "glorot_uniform";
    case Initializer::torch_default:
      return "torch_default";
  }
  return "?";
}

/// The initialiser called `name`; throws `ConfigError` for an unknown name.
inline Initializer initializer_from_name(const std::string& name) {
  for (Initializer i : {Initializer::he_normal, Initializer::he_uniform, Initializer::glorot_normal,
                        Initializer::glorot_uniform, Initializer::torch_default})
    if (name == initializer_name(i)) return i;
  throw ConfigError("unknown initializer '" + name +
                    "' (expected he_normal, he_uniform, glorot_normal, glorot_uniform or torch_default)");
}

/// Fills `w` with `init` for a layer of the given fans.
template <typename T>
void initialize(Initializer init, TensorView<T> w, std::size_t fan_in, std::size_t fan_out,
                const CounterRng& rng, std::uint64_t stream) {
  switch (init) {
    case Initializer::he_normal:
      he_normal(w, fan_in, rng, stream);
      break;
    case Initializer::he_uniform:
      he_uniform(w, fan_in, rng, stream);
      break;
    case Initializer::glorot_normal:
      glorot_normal(w, fan_in, fan_out, rng, stream);
      break;
    case Initializer::glorot_uniform:
      glorot_uniform(w, fan_in, fan_out, rng, stream);
      break;
    case Initializer::torch_default:
      detail::check_fans("torch_default", fan_in, 1);
      fill_uniform(w, 1.0 / std::sqrt(static_cast<double>(fan_in)), rng, stream);
      break;
  }
}

/// Initialises a bias of a layer with `fan_in` inputs per output: zero, or for `torch_default`
/// uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)).
template <typename T>
void initialize_bias(Initializer init, TensorView<T> bias, std::size_t fan_in, const CounterRng& rng,
                     std::uint64_t stream) {
  if (init == Initializer::torch_default)
    initialize(init, bias, fan_in, 1, rng, stream);
  else
    std::fill(bias.begin(), bias.end(), T(0));
}

}  // namespace tinydl
