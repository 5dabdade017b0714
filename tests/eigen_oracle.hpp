#pragma once
// The Eigen oracle for GEMM tests, in its own translation unit: Eigen's AVX-512 code trips a GCC 12
// -Wmaybe-uninitialized false positive, which is silenced for eigen_oracle.cpp alone.
#include <cstddef>
#include <vector>

namespace oracle {

/// Reference product in double: ref = op(A) * op(B) and bound = |op(A)| * |op(B)| (elementwise
/// absolute values), both m x n row-major. A is stored (trans_a ? k x m : m x k) with row stride lda,
/// B (trans_b ? n x k : k x n) with row stride ldb.
void gemm_reference(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, const double* a,
                    std::size_t lda, const double* b, std::size_t ldb, std::vector<double>& ref,
                    std::vector<double>& bound);

}  // namespace oracle
