#pragma once
/// @file sample_weights.hpp
/// The contract of per-example weights (Keras's `sample_weight`), shared by `Dataset`, which
/// holds them, and the losses, which weigh by them: one finite weight >= 0 per example.

#include <cmath>
#include <cstddef>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl {
namespace detail {

/// Throws `ShapeError` unless `weights` is (n), and `Error` naming the first negative or
/// non-finite weight.
inline void check_sample_weights(const char* who, const TensorView<const float>& weights, std::size_t n) {
  check<ShapeError>(weights.rank() == 1 && weights.shape()[0] == n, who, ": expected sample weights (", n,
                    "), one per item, got ", weights.shape());
  for (std::size_t b = 0; b < n; ++b)
    check<Error>(std::isfinite(weights[b]) && weights[b] >= 0, who, ": sample weight ", weights[b],
                 " of item ", b, "; weights must be finite and >= 0");
}

}  // namespace detail
}  // namespace tinydl
