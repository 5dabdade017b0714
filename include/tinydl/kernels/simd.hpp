#pragma once
/// @file simd.hpp
/// The vector instruction set tinydl's kernels are compiled for, chosen from the compiler's
/// target macros, and a thin wrapper `Simd<T>` over its registers (load, store, broadcast,
/// fused multiply-add) so one kernel template serves float and double, AVX-512 and AVX2.
/// The portable build has no `Simd<T>`; its kernels are plain loops.

#include <cstddef>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

namespace tinydl::kernels {

/// The instruction sets a kernel can be built for.
enum class Isa { generic, avx2, avx512 };

#if defined(__AVX512F__)
inline constexpr Isa compiled_isa = Isa::avx512;
#elif defined(__AVX2__) && defined(__FMA__)
inline constexpr Isa compiled_isa = Isa::avx2;
#else
inline constexpr Isa compiled_isa = Isa::generic;
#endif

/// "avx512", "avx2" or "generic": what this translation unit's kernels use.
inline constexpr const char* isa_name(Isa isa = compiled_isa) {
  return isa == Isa::avx512 ? "avx512" : isa == Isa::avx2 ? "avx2" : "generic";
}

template <typename T>
struct Simd;  // defined only where the ISA has vectors

#if defined(__AVX512F__)
template <>
struct Simd<float> {
  using Reg = __m512;
  static constexpr std::size_t width = 16;
  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm512_storeu_ps(p, v); }
  static Reg broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static Reg set1(float x) { return _mm512_set1_ps(x); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }  // a * b + c
  static Reg mul(Reg a, Reg b) { return _mm512_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm512_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_ps(a, b); }
  // The zero-masked form: GCC 12 warns (falsely) about the undefined source of the plain one.
  static Reg sqrt(Reg a) { return _mm512_maskz_sqrt_ps(0xFFFF, a); }
};
template <>
struct Simd<double> {
  using Reg = __m512d;
  static constexpr std::size_t width = 8;
  static Reg zero() { return _mm512_setzero_pd(); }
  static Reg load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm512_storeu_pd(p, v); }
  static Reg broadcast(const double* p) { return _mm512_set1_pd(*p); }
  static Reg set1(double x) { return _mm512_set1_pd(x); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm512_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm512_mul_pd(a, b); }
  static Reg add(Reg a, Reg b) { return _mm512_add_pd(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm512_sub_pd(a, b); }
  static Reg div(Reg a, Reg b) { return _mm512_div_pd(a, b); }
  static Reg sqrt(Reg a) { return _mm512_maskz_sqrt_pd(0xFF, a); }
};
#elif defined(__AVX2__) && defined(__FMA__)
template <>
struct Simd<float> {
  using Reg = __m256;
  static constexpr std::size_t width = 8;
  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Reg v) { _mm256_storeu_ps(p, v); }
  static Reg broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static Reg set1(float x) { return _mm256_set1_ps(x); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_ps(a, b); }
  static Reg add(Reg a, Reg b) { return _mm256_add_ps(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_ps(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_ps(a, b); }
  static Reg sqrt(Reg a) { return _mm256_sqrt_ps(a); }
};
template <>
struct Simd<double> {
  using Reg = __m256d;
  static constexpr std::size_t width = 4;
  static Reg zero() { return _mm256_setzero_pd(); }
  static Reg load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, Reg v) { _mm256_storeu_pd(p, v); }
  static Reg broadcast(const double* p) { return _mm256_broadcast_sd(p); }
  static Reg set1(double x) { return _mm256_set1_pd(x); }
  static Reg fmadd(Reg a, Reg b, Reg c) { return _mm256_fmadd_pd(a, b, c); }
  static Reg mul(Reg a, Reg b) { return _mm256_mul_pd(a, b); }
  static Reg add(Reg a, Reg b) { return _mm256_add_pd(a, b); }
  static Reg sub(Reg a, Reg b) { return _mm256_sub_pd(a, b); }
  static Reg div(Reg a, Reg b) { return _mm256_div_pd(a, b); }
  static Reg sqrt(Reg a) { return _mm256_sqrt_pd(a); }
};
#endif

}  // namespace tinydl::kernels
