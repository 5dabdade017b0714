#pragma once
// Helpers shared by the test programs: golden files, random tensors, error measures, and the
// finite-difference gradient check.
#include <tinydl/tinydl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace test {

/// A file of tests/golden (PyTorch reference values, see tests/golden/README.md).
inline tinydl::io::SafetensorsFile golden(const std::string& name) {
  return tinydl::io::SafetensorsFile::load(std::string(TINYDL_TEST_DATA_DIR) + "/golden/" + name +
                                           ".safetensors");
}

/// A fresh, empty directory "tinydl-<name>" under the system's temporary directory. Test programs
/// run in parallel, so each passes a name of its own (prefixed with its area).
inline std::filesystem::path temporary_directory(const std::string& name) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("tinydl-" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// The tolerance of PyTorch parity for scalar type T: relative error 1e-9 in double, 1e-4 in float.
template <typename T>
constexpr double parity_tolerance() {
  return sizeof(T) == 8 ? 1e-9 : 1e-4;
}

/// Relative error of `actual` against `expected`: max_i |a_i - e_i| / max_i |e_i| (normwise, so
/// entries near zero are judged against the tensor's scale). Shapes must match.
template <typename A, typename E>
double relative_error(const A& actual, const E& expected) {
  REQUIRE(actual.shape() == expected.shape());
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    diff = std::max(
        diff, std::abs(static_cast<double>(actual.data()[i]) - static_cast<double>(expected.data()[i])));
    scale = std::max(scale, std::abs(static_cast<double>(expected.data()[i])));
  }
  return scale > 0 ? diff / scale : diff;
}

/// Uniform values in [lo, hi) from the counter-based RNG, reproducible by seed.
template <typename T>
tinydl::Tensor<T> random_tensor(const tinydl::Shape& shape, std::uint64_t seed, double lo = -1,
                                double hi = 1) {
  tinydl::Tensor<T> t(shape);
  const tinydl::CounterRng rng(seed);
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<T>(lo + (hi - lo) * rng.uniform(99, i));
  return t;
}

/// The parameter named `name` of a layer (fails the test if it has none).
template <typename T>
tinydl::Param<T> param(tinydl::Layer<T>& layer, const std::string& name) {
  for (auto& p : layer.params())
    if (p.name == name) return p;
  FAIL("layer " << layer.type() << " has no parameter " << name);
  throw;  // unreachable
}

/// Finite-difference check of a layer's backward pass, in double. With L = sum(y * r) for a fixed
/// random r, compares dL/dx and dL/dparam from backward with central differences
/// (L(v + h) - L(v - h)) / 2h, h = 1e-6, for every input element and every trainable parameter.
/// `before_forward` runs before every forward pass (e.g. to fix a dropout step).
inline void check_gradients(
    tinydl::Layer<double>& layer, const tinydl::Tensor<double>& input, tinydl::Mode mode,
    const std::function<void()>& before_forward = [] {}) {
  using tinydl::Tensor;
  Tensor<double> x = input;
  const tinydl::Shape out_shape = layer.output_shape(x.shape());
  const Tensor<double> r = random_tensor<double>(out_shape, 7);
  Tensor<double> y(out_shape);
  auto loss = [&] {
    before_forward();
    layer.forward(x.view(), y.view(), mode);
    double sum = 0;
    for (std::size_t i = 0; i < y.size(); ++i) sum += y[i] * r[i];
    return sum;
  };

  // The layer contract: backward adds into the parameter gradients and overwrites dx. Start the
  // gradients at a constant and dx at NaN, so a layer that overwrites where it must add (or adds
  // where it must overwrite) fails below instead of passing on zeroed buffers.
  const double grad_start = 0.375;
  for (auto& p : layer.params())
    if (p.trainable()) std::fill(p.grad.begin(), p.grad.end(), grad_start);
  (void)loss();
  Tensor<double> dx(x.shape());
  std::fill(dx.begin(), dx.end(), std::numeric_limits<double>::quiet_NaN());
  layer.backward(x.view(), y.view(), r.view(), dx.view());

  const double h = 1e-6;
  auto numeric = [&](double& v) {
    const double saved = v;
    v = saved + h;
    const double plus = loss();
    v = saved - h;
    const double minus = loss();
    v = saved;
    return (plus - minus) / (2 * h);
  };
  auto agree = [](double analytic, double approx) {
    return std::abs(analytic - approx) <= 1e-6 * std::max(1.0, std::abs(approx));
  };

  std::size_t bad = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double approx = numeric(x[i]);
    if (!agree(dx[i], approx) && bad++ < 5)
      FAIL_CHECK(layer.type() << " dx[" << i << "] = " << dx[i] << ", finite difference " << approx);
  }
  for (auto& p : layer.params()) {
    if (!p.trainable()) continue;
    const Tensor<double> analytic = [&] {
      Tensor<double> copy(p.grad.shape());
      for (std::size_t i = 0; i < copy.size(); ++i) copy[i] = p.grad[i] - grad_start;  // what backward added
      return copy;
    }();
    for (std::size_t i = 0; i < p.value.size(); ++i) {
      const double approx = numeric(p.value[i]);
      if (!agree(analytic[i], approx) && bad++ < 10)
        FAIL_CHECK(layer.type() << " d" << p.name << "[" << i << "] = " << analytic[i]
                                << ", finite difference " << approx);
    }
  }
  CHECK(bad == 0);
}

}  // namespace test
