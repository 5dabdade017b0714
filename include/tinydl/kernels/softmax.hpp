#pragma once
/// @file softmax.hpp
/// Row-wise softmax and log-sum-exp, stable for large logits: with m = max_j x_j,
///
///     log sum_j exp(x_j) = m + log sum_j exp(x_j - m)        softmax(x)_j = exp(x_j - m) / sum_k exp(x_k -
///     m)
///
/// so no exponent exceeds 0 and logits of +-1e4 neither overflow nor lose the answer.

#include <cmath>
#include <cstddef>

namespace tinydl::kernels {

/// log sum_j exp(x[j]) over one row of `cols` values, summed in double.
template <typename T>
double log_sum_exp(std::size_t cols, const T* x) {
  T max = x[0];
  for (std::size_t j = 1; j < cols; ++j) max = x[j] > max ? x[j] : max;
  double sum = 0;
  for (std::size_t j = 0; j < cols; ++j) sum += std::exp(static_cast<double>(x[j]) - max);
  return max + std::log(sum);
}

/// y[r] = softmax(x[r]) for each of `rows` rows of `cols` values. `y` may alias `x`.
template <typename T>
void softmax_rows(std::size_t rows, std::size_t cols, const T* x, T* y) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T* in = x + r * cols;
    T* out = y + r * cols;
    const double lse = log_sum_exp(cols, in);
    for (std::size_t j = 0; j < cols; ++j)
      out[j] = static_cast<T>(std::exp(static_cast<double>(in[j]) - lse));
  }
}

/// Backward of row-wise softmax: dx_j = y_j * (dy_j - sum_k dy_k y_k) for each of `rows` rows,
/// from the forward output y. `dx` may alias `dy`.
template <typename T>
void softmax_backward_rows(std::size_t rows, std::size_t cols, const T* y, const T* dy, T* dx) {
  for (std::size_t r = 0; r < rows; ++r) {
    const T *yr = y + r * cols, *dyr = dy + r * cols;
    T dot = T(0);
    for (std::size_t j = 0; j < cols; ++j) dot += dyr[j] * yr[j];
    for (std::size_t j = 0; j < cols; ++j) dx[r * cols + j] = yr[j] * (dyr[j] - dot);
  }
}

}  // namespace tinydl::kernels
