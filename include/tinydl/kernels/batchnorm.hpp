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
/// fixed order (accumulated in double), so results do not depend on the thread count. Within a
/// row of `plane` values the sums go to 8 lanes (value p to lane p mod 8), added at the end: a
/// fixed order the compiler can vectorise, where one running sum would wait on every add.

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

/// Lanes of the vectorised sums.
inline constexpr std::size_t sum_lanes = 8;

/// Adds term(values[p]) for p < count into lanes[p mod sum_lanes].
template <typename T, typename Term>
inline void add_to_lanes(const T* values, std::size_t count, Term term, double* lanes) {
  std::size_t p = 0;
  for (; p + sum_lanes <= count; p += sum_lanes)
    for (std::size_t j = 0; j < sum_lanes; ++j) lanes[j] += term(static_cast<double>(values[p + j]));
  for (std::size_t j = 0; p + j < count; ++j) lanes[j] += term(static_cast<double>(values[p + j]));
}

inline double total(const double* lanes) {
  double sum = 0;
  for (std::size_t j = 0; j < sum_lanes; ++j) sum += lanes[j];
  return sum;
}

/// Channel c's sum of x over the n items.
template <typename T>
double channel_sum(std::size_t n, std::size_t channels, std::size_t plane, const T* x, std::size_t c) {
  double sums[sum_lanes] = {};
  for (std::size_t b = 0; b < n; ++b)
    add_to_lanes(
        x + (b * channels + c) * plane, plane, [](double v) { return v; }, sums);
  return total(sums);
}

/// Channel c's sum of (x - mu)^2 over the n items.
template <typename T>
double channel_square_sum(std::size_t n, std::size_t channels, std::size_t plane, const T* x, std::size_t c,
                          double mu) {
  double squares[sum_lanes] = {};
  for (std::size_t b = 0; b < n; ++b)
    add_to_lanes(
        x + (b * channels + c) * plane, plane, [mu](double v) { return (v - mu) * (v - mu); }, squares);
  return total(squares);
}

/// Channel c's sum dy and sum dy * x_hat over the n items.
template <typename T>
void channel_backward_sums(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* dy,
                           std::size_t c, double mu, double inv, double& total_dy, double& total_dy_xhat) {
  double sum_dy[sum_lanes] = {}, sum_dy_xhat[sum_lanes] = {};
  for (std::size_t b = 0; b < n; ++b) {
    const std::size_t offset = (b * channels + c) * plane;
    const T* xs = x + offset;
    const T* dys = dy + offset;
    std::size_t p = 0;
    for (; p + sum_lanes <= plane; p += sum_lanes)
      for (std::size_t j = 0; j < sum_lanes; ++j) {
        const double g = dys[p + j];
        sum_dy[j] += g;
        sum_dy_xhat[j] += g * ((xs[p + j] - mu) * inv);
      }
    for (std::size_t j = 0; p + j < plane; ++j) {
      const double g = dys[p + j];
      sum_dy[j] += g;
      sum_dy_xhat[j] += g * ((xs[p + j] - mu) * inv);
    }
  }
  total_dy = total(sum_dy);
  total_dy_xhat = total(sum_dy_xhat);
}

/// Channel c of dx = gamma * invstd * (dy - mean_dy - x_hat * mean_dy_xhat) over the n items.
template <typename T>
void channel_dx(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* dy,
                std::size_t c, double mu, double inv, double gamma, double mean_dy, double mean_dy_xhat,
                T* dx) {
  const double scale = gamma * inv;
  for (std::size_t b = 0; b < n; ++b) {
    const std::size_t offset = (b * channels + c) * plane;
    const T* xs = x + offset;
    const T* dys = dy + offset;
    T* dxs = dx + offset;
    for (std::size_t p = 0; p < plane; ++p) {
      const double x_hat = (xs[p] - mu) * inv;
      dxs[p] = static_cast<T>(scale * (dys[p] - mean_dy - x_hat * mean_dy_xhat));
    }
  }
}

}  // namespace detail

/// Per-channel mean and biased variance (two passes: the mean, then squared deviations from it).
template <typename T>
void batchnorm_statistics(std::size_t n, std::size_t channels, std::size_t plane, const T* x, T* mean,
                          T* var) {
  const double count = static_cast<double>(n * plane);
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    const double mu = detail::channel_sum(n, channels, plane, x, c) / count;
    mean[c] = static_cast<T>(mu);
    var[c] = static_cast<T>(detail::channel_square_sum(n, channels, plane, x, c, mu) / count);
  });
}

/// One shard's part of the statistics, for data-parallel training (core/batch_shards.hpp):
/// sums[c] = sum of x over the n items when `mean` is null, else the sum of (x - mean[c])^2.
template <typename T>
void batchnorm_shard_sums(std::size_t n, std::size_t channels, std::size_t plane, const T* x,
                          const double* mean, double* sums) {
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    sums[c] = mean ? detail::channel_square_sum(n, channels, plane, x, c, mean[c])
                   : detail::channel_sum(n, channels, plane, x, c);
  });
}

/// y = gamma * (x - mean) * invstd + beta, per channel. `y` may alias `x`.
template <typename T>
void batchnorm_normalize(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* mean,
                         const T* invstd, const T* gamma, const T* beta, T* y) {
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    const T scale = gamma[c] * invstd[c], shift = beta[c], mu = mean[c];  // locals: y may alias them
    for (std::size_t b = 0; b < n; ++b) {
      const T* in = x + (b * channels + c) * plane;
      T* out = y + (b * channels + c) * plane;
      for (std::size_t p = 0; p < plane; ++p) out[p] = (in[p] - mu) * scale + shift;
    }
  });
}

/// Adds the gradients of gamma and beta into dgamma and dbeta and, if dx is not null, writes dx.
/// `batch_statistics`: whether mean and invstd were computed from this batch (training) or fixed.
template <typename T>
void batchnorm_backward(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* dy,
                        const T* mean, const T* invstd, const T* gamma, bool batch_statistics, T* dx,
                        T* dgamma, T* dbeta) {
  const double count = static_cast<double>(n * plane);
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    const double mu = mean[c], inv = invstd[c];
    double total_dy = 0, total_dy_xhat = 0;
    detail::channel_backward_sums(n, channels, plane, x, dy, c, mu, inv, total_dy, total_dy_xhat);
    dgamma[c] += static_cast<T>(total_dy_xhat);
    dbeta[c] += static_cast<T>(total_dy);
    if (!dx) return;
    detail::channel_dx(n, channels, plane, x, dy, c, mu, inv, static_cast<double>(gamma[c]),
                       batch_statistics ? total_dy / count : 0.0,
                       batch_statistics ? total_dy_xhat / count : 0.0, dx);
  });
}

/// One shard's part of the training backward pass (data-parallel training): sums[c] = sum dy and
/// sums[channels + c] = sum dy * x_hat over the n items.
template <typename T>
void batchnorm_backward_shard_sums(std::size_t n, std::size_t channels, std::size_t plane, const T* x,
                                   const T* dy, const T* mean, const T* invstd, double* sums) {
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    detail::channel_backward_sums(n, channels, plane, x, dy, c, static_cast<double>(mean[c]),
                                  static_cast<double>(invstd[c]), sums[c], sums[channels + c]);
  });
}

/// dx of the training backward pass from the global batch's sums (`sums` as
/// batchnorm_backward_shard_sums writes them, over `count` values per channel).
template <typename T>
void batchnorm_backward_dx(std::size_t n, std::size_t channels, std::size_t plane, const T* x, const T* dy,
                           const T* mean, const T* invstd, const T* gamma, const double* sums, double count,
                           T* dx) {
  detail::for_each_channel(channels, n * plane, [&](std::size_t c) {
    detail::channel_dx(n, channels, plane, x, dy, c, static_cast<double>(mean[c]),
                       static_cast<double>(invstd[c]), static_cast<double>(gamma[c]), sums[c] / count,
                       sums[channels + c] / count, dx);
  });
}

}  // namespace tinydl::kernels
