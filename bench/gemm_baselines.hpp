#pragma once
// Row-major single-precision GEMM by the libraries tinydl is measured against:
//   C = op(A) * op(B)  (alpha = 1, beta = 0), A, B, C densely stored.
#include <cstddef>
#include <string>
#include <vector>

namespace baseline {

struct Library {
  std::string name;
  /// Runs one product; the arguments are those of tinydl::kernels::gemm without alpha/beta/ld.
  void (*sgemm)(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, const float* a,
                const float* b, float* c);
  /// Sets the library's own thread count.
  void (*set_threads)(int threads);
};

/// Eigen, then OpenBLAS and oneDNN where they were found at build time.
std::vector<Library> libraries();

/// One line on the libraries: versions, OpenBLAS's kernel ("core") and how to change it.
std::string describe();

}  // namespace baseline
