#pragma once
/// @file elementwise.hpp
/// The few elementwise loops and reductions the kernels and layers share. Plain loops the compiler
/// vectorises; each reduction sums in a fixed order, so results do not depend on threads.

#include <cstddef>

namespace tinydl::kernels {

/// Lanes of the vectorised row sums below: element j goes to lane j mod 16,
/// and the lanes are added in order at the end. A fixed order (results do not depend on threads)
/// that the compiler vectorises, where one running sum would wait on every add.
inline constexpr std::size_t reduction_lanes = 16;

/// out[i] += sum_j m[i][j] for an rows x cols matrix with row stride ld: a conv bias gradient
/// (rows = channels, cols = pixels).
template <typename T>
void add_row_sums(std::size_t rows, std::size_t cols, const T* m, std::size_t ld, T* out) {
  constexpr std::size_t L = reduction_lanes;
  for (std::size_t i = 0; i < rows; ++i) {
    const T* row = m + i * ld;
    T lanes[L] = {};
    std::size_t j = 0;
    for (; j + L <= cols; j += L)
      for (std::size_t l = 0; l < L; ++l) lanes[l] += row[j + l];
    for (std::size_t l = 0; j + l < cols; ++l) lanes[l] += row[j + l];
    T sum = T(0);
    for (std::size_t l = 0; l < L; ++l) sum += lanes[l];
    out[i] += sum;
  }
}

/// out[j] += sum_i m[i][j] for an rows x cols matrix with row stride ld: a dense bias gradient
/// (rows = batch, cols = features).
template <typename T>
void add_column_sums(std::size_t rows, std::size_t cols, const T* m, std::size_t ld, T* out) {
  for (std::size_t i = 0; i < rows; ++i) {
    const T* row = m + i * ld;
    for (std::size_t j = 0; j < cols; ++j) out[j] += row[j];
  }
}

/// d *= relu'(z), from the ReLU's output y = relu(z) (y > 0 exactly where z > 0; NaN where z is):
/// d[i] = d[i] * (y[i] > 0 ? 1 : 0), the product the ReLU's own backward computes, signed zeros
/// and NaN included. For a layer after a ReLU that applies the ReLU's backward to its dx.
template <typename T>
void multiply_by_relu_derivative(std::size_t n, const T* y, T* d) {
  for (std::size_t i = 0; i < n; ++i) d[i] *= y[i] > T(0) ? T(1) : T(0);
}

/// sum_i x[i]^2 in double, in the fixed order of `reduction_lanes` lanes (as add_row_sums): the
/// squared norm of a gradient for clipping, the same for any thread count.
template <typename T>
double sum_of_squares(std::size_t n, const T* x) {
  constexpr std::size_t L = reduction_lanes;
  double lanes[L] = {};
  std::size_t i = 0;
  for (; i + L <= n; i += L)
    for (std::size_t l = 0; l < L; ++l)
      lanes[l] += static_cast<double>(x[i + l]) * static_cast<double>(x[i + l]);
  for (std::size_t l = 0; i + l < n; ++l)
    lanes[l] += static_cast<double>(x[i + l]) * static_cast<double>(x[i + l]);
  double sum = 0;
  for (std::size_t l = 0; l < L; ++l) sum += lanes[l];
  return sum;
}

/// y[i] = a[i] + b[i]; y may be a or b (a residual block's sum, and the sum of its two gradients).
template <typename T>
void add(std::size_t n, const T* a, const T* b, T* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

/// y[i] = (a[i] + b[i]) * (r[i] > 0 ? 1 : 0), y may be a or b: the sum of a residual block's two
/// input gradients and, in the same pass, the backward of the ReLU before the block, whose output r
/// is the block's input (the product the ReLU's own backward computes, bit for bit).
template <typename T>
void add_times_relu_derivative(std::size_t n, const T* a, const T* b, const T* r, T* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] = (a[i] + b[i]) * (r[i] > T(0) ? T(1) : T(0));
}

/// y = alpha * x + y.
template <typename T>
void axpy(std::size_t n, T alpha, const T* x, T* y) {
  for (std::size_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

}  // namespace tinydl::kernels
