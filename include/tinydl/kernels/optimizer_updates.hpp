#pragma once
/// @file optimizer_updates.hpp
/// The elementwise parameter updates of the optimizers, as plain loops the compiler vectorises
/// (no branch inside the loop), spread over the threads for large tensors. Each element is
/// updated on its own, so results do not depend on the thread count.

#include <cmath>
#include <cstddef>

#include "tinydl/core/parallel.hpp"
#include "tinydl/kernels/simd.hpp"

namespace tinydl::kernels {

/// The per-step constants of an Adam update (see optim/adam.hpp for the math).
template <typename T>
struct AdamStep {
  T beta1, beta2, eps;
  T step_size;         ///< lr / (1 - beta1^t)
  T correction2_sqrt;  ///< sqrt(1 - beta2^t)
  T decay;             ///< L2 penalty added to the gradient (Adam); 0 for AdamW
  T shrink;            ///< decoupled decay factor 1 - lr * weight_decay (AdamW); 1 for Adam
};

/// One Adam step on n parameters p with gradients g and moments m, v:
///     p = p * shrink;  grad = g + decay * p
///     m = beta1 m + (1 - beta1) grad;  v = beta2 v + (1 - beta2) grad^2
///     p = p - step_size * m / (sqrt(v) / correction2_sqrt + eps)
/// Multiplying by shrink = 1 and adding decay = 0 are exact, so one loop serves Adam and AdamW.
/// Written with `Simd<T>` because compilers do not vectorise std::sqrt while it may set errno.
template <typename T>
void adam_update(std::size_t n, const AdamStep<T>& step, T* p, const T* g, T* m, T* v) {
  parallel_ranges(n, [step, p, g, m, v](std::size_t begin, std::size_t end) {
    const T b1 = step.beta1, b2 = step.beta2, c1 = T(1) - b1, c2 = T(1) - b2, eps = step.eps;
    const T lr = step.step_size, correction = step.correction2_sqrt, decay = step.decay, shrink = step.shrink;
    std::size_t i = begin;
#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
    using V = Simd<T>;
    const auto vb1 = V::set1(b1), vb2 = V::set1(b2), vc1 = V::set1(c1), vc2 = V::set1(c2),
               veps = V::set1(eps);
    const auto vlr = V::set1(lr), vcorrection = V::set1(correction), vdecay = V::set1(decay),
               vshrink = V::set1(shrink);
    for (; i + V::width <= end; i += V::width) {
      const auto value = V::mul(V::load(p + i), vshrink);
      const auto grad = V::fmadd(vdecay, value, V::load(g + i));
      const auto mi = V::fmadd(vb1, V::load(m + i), V::mul(vc1, grad));
      const auto vi = V::fmadd(vb2, V::load(v + i), V::mul(V::mul(vc2, grad), grad));
      V::store(m + i, mi);
      V::store(v + i, vi);
      const auto denominator = V::add(V::div(V::sqrt(vi), vcorrection), veps);
      V::store(p + i, V::sub(value, V::div(V::mul(vlr, mi), denominator)));
    }
#endif
    for (; i < end; ++i) {
      const T value = p[i] * shrink;
      const T grad = g[i] + decay * value;
      m[i] = b1 * m[i] + c1 * grad;
      v[i] = b2 * v[i] + c2 * grad * grad;
      p[i] = value - lr * m[i] / (std::sqrt(v[i]) / correction + eps);
    }
  });
}

/// One SGD step with momentum mu (0: none) and L2 penalty `decay` on n parameters:
///     grad = g + decay p;  b = mu b + grad;  grad = nesterov ? grad + mu b : b;  p = p - lr grad
/// `buffer` may be null when mu is 0.
template <typename T>
void sgd_update(std::size_t n, T lr, T mu, T decay, bool nesterov, T* p, const T* g, T* buffer) {
  // Captured by value: the compiler then knows no store to p can change lr, mu or the pointers.
  parallel_ranges(n, [=](std::size_t begin, std::size_t end) {
    if (mu == T(0)) {
      for (std::size_t i = begin; i < end; ++i) p[i] -= lr * (g[i] + decay * p[i]);
    } else if (nesterov) {
      for (std::size_t i = begin; i < end; ++i) {
        const T grad = g[i] + decay * p[i];
        buffer[i] = mu * buffer[i] + grad;
        p[i] -= lr * (grad + mu * buffer[i]);
      }
    } else {
      for (std::size_t i = begin; i < end; ++i) {
        const T grad = g[i] + decay * p[i];
        buffer[i] = mu * buffer[i] + grad;
        p[i] -= lr * buffer[i];
      }
    }
  });
}

}  // namespace tinydl::kernels
