#pragma once
/// @file pooling.hpp
/// Max pooling over (N*C) independent planes:
///
///     forward:   y[oh][ow] = max over the window of x[oh*sh - ph + i][ow*sw - pw + j]
///                argmax[oh][ow] = the flat index h*W + w in the plane where that max was found
///                (the first one in row-major order on ties; padding never wins)
///     backward:  dx[argmax[oh][ow]] += dy[oh][ow]
///
/// Planes are independent, so they are processed in parallel; within a plane, overlapping
/// windows add to dx in a fixed order.

#include <cstddef>
#include <cstdint>
#include <limits>

#include "tinydl/core/parallel.hpp"
#include "tinydl/kernels/window.hpp"

namespace tinydl::kernels {

/// Max pooling forward of `planes` planes of in_h x in_w (g.channels is ignored; pass the plane
/// count): y gets out_h x out_w per plane, argmax the winning input index for backward.
template <typename T>
void maxpool_forward(const Window2d& g, std::size_t planes, const T* x, T* y, std::int32_t* argmax) {
  const std::size_t in_size = g.in_h * g.in_w, oh_n = g.out_h(), ow_n = g.out_w(), out_size = oh_n * ow_n;
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const T* plane = x + static_cast<std::size_t>(p) * in_size;
    T* out = y + static_cast<std::size_t>(p) * out_size;
    std::int32_t* arg = argmax + static_cast<std::size_t>(p) * out_size;
    for (std::size_t oh = 0; oh < oh_n; ++oh) {
      for (std::size_t ow = 0; ow < ow_n; ++ow) {
        T best = -std::numeric_limits<T>::infinity();
        std::size_t best_index = 0;
        bool found = false;
        for (std::size_t i = 0; i < g.kernel_h; ++i) {
          const std::size_t h = oh * g.stride_h + i;  // in padded coordinates
          if (h < g.pad_h || h - g.pad_h >= g.in_h) continue;
          for (std::size_t j = 0; j < g.kernel_w; ++j) {
            const std::size_t w = ow * g.stride_w + j;
            if (w < g.pad_w || w - g.pad_w >= g.in_w) continue;
            const std::size_t index = (h - g.pad_h) * g.in_w + (w - g.pad_w);
            const T v = plane[index];
            if (!found || v > best || (v != v && best == best)) {  // NaN wins, as in PyTorch
              best = v;
              best_index = index;
              found = true;
            }
          }
        }
        out[oh * ow_n + ow] = best;
        arg[oh * ow_n + ow] = static_cast<std::int32_t>(best_index);
      }
    }
  }
}

/// Max pooling backward: dx[argmax] += dy for every output of every plane. dx is accumulated
/// into (zero it first for a plain gradient).
template <typename T>
void maxpool_backward(const Window2d& g, std::size_t planes, const T* dy, const std::int32_t* argmax, T* dx) {
  const std::size_t in_size = g.in_h * g.in_w, out_size = g.out_pixels();
  const long n = static_cast<long>(planes);
#pragma omp parallel for schedule(static) if (planes * out_size > 4096 && num_threads() > 1)
  for (long p = 0; p < n; ++p) {
    const std::size_t offset = static_cast<std::size_t>(p);
    T* plane = dx + offset * in_size;
    const T* grad = dy + offset * out_size;
    const std::int32_t* arg = argmax + offset * out_size;
    for (std::size_t o = 0; o < out_size; ++o) plane[arg[o]] += grad[o];
  }
}

}  // namespace tinydl::kernels
