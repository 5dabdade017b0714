#pragma once
/// @file batchnorm.hpp
/// Batch normalisation over the layout x[(b * channels + c) * plane + p]: b < n items, c < channels,
/// p < plane (plane = H*W for images (N, C, H, W), 1 for features (N, C)). Per channel c, over its
/// M = n * plane values:
///
///     mean = 1/M sum x          var = 1/M sum (x - mean)^2          invstd = 1 / sqrt(var + eps)
///     x_hat = (x - mean) * invstd                y = gamma * x_hat + beta
///
/// Backward, with the statistics taken from the batch (training):
///     dgamma = sum dy * x_hat     dbeta = sum dy
///     dx = gamma * invstd / M * (M * dy - sum dy - x_hat * sum (dy * x_hat))
/// and with fixed statistics (evaluation): dx = gamma * invstd * dy.
///
/// Channels are independent, so they are spread over threads; each channel's sums run in one
/// fixed order (accumulated in double), so results do not depend on the thread count.

#include <cstddef>

#include "tinydl/core/parallel.hpp"

namespace tinydl::kernels {

namespace detail {
/// Calls body(c) for every channel, in parallel when there is enough work.
template <typename Body>
void for_each_channel(std::size_t channels, std::size_t values_per_channel, Body&& body) {
  if (channels * values_per_channel < 16384) {
    for (std::size_t c = 0; c < channels; ++c) body(c);
  } else {
    parallel_for(channels, [&](std::size_t c, int) { body(c); });
  }
}
}  // namespace detail

/// Per-channel mean and biased variance (two passes: the mean, then squared deviations from it).
template <typename T>
void batchnorm_statistics(std::size_t n, std::size_t channels, std::size_t plane, const T* x, T* mean, T* var) {
  const double count = static_cast<double>(n * plane);
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    double sum = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const T* values = x + (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) sum += values[p];
    }
    const double mu = sum / count;
    double squares = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const T* values = x + (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) squares += (values[p] - mu) * (values[p] - mu);
    }
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(squares / count);
  });
}

/// y = gamma * (x - mean) * invstd + beta, per channel. `y` may alias `x`.
template <typename T>
void batchnorm_normalize(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* mean,
                         const T* invstd, const T* gamma, const T* beta, T* y) {
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    const T scale = gamma[c] * invstd[c];
    for (std::size_t b = 0; b < n; ++b) {
      const std::size_t offset = (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) y[offset + p] = (x[offset + p] - mean[c]) * scale + beta[c];
    }
  });
}

/// Adds the gradients of gamma and beta into dgamma and dbeta and, if dx is not null, writes dx.
/// `batch_statistics`: whether mean and invstd were computed from this batch (training) or fixed.
template <typename T>
void batchnorm_backward(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* dy,
                        const T* mean, const T* invstd, const T* gamma, bool batch_statistics, T* dx, T* dgamma,
                        T* dbeta) {
  const double count = static_cast<double>(n * plane);
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    double sum_dy = 0, sum_dy_xhat = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const std::size_t offset = (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) {
        const double x_hat = (x[offset + p] - mean[c]) * static_cast<double>(invstd[c]);
        sum_dy += dy[offset + p];
        sum_dy_xhat += dy[offset + p] * x_hat;
      }
    }
    dgamma[c] += static_cast<T>(sum_dy_xhat);
    dbeta[c] += static_cast<T>(sum_dy);
    if (!dx) return;
    const double scale = static_cast<double>(gamma[c]) * invstd[c];
    const double mean_dy = batch_statistics ? sum_dy / count : 0.0;
    const double mean_dy_xhat = batch_statistics ? sum_dy_xhat / count : 0.0;
    for (std::size_t b = 0; b < n; ++b) {
      const std::size_t offset = (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) {
        const double x_hat = (x[offset + p] - mean[c]) * static_cast<double>(invstd[c]);
        dx[offset + p] = static_cast<T>(scale * (dy[offset + p] - mean_dy - x_hat * mean_dy_xhat));
      }
    }
  });
}

}  // namespace tinydl::kernels
