#include "eigen_oracle.hpp"

#include <Eigen/Dense>

namespace oracle {

void gemm_reference(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, const double* a,
                    std::size_t lda, const double* b, std::size_t ldb, std::vector<double>& ref,
                    std::vector<double>& bound) {
  using Matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
  const auto rows = [](bool t, std::size_t r, std::size_t c) { return Eigen::Index(t ? c : r); };
  const auto cols = [](bool t, std::size_t r, std::size_t c) { return Eigen::Index(t ? r : c); };
  Matrix op_a = Map(a, rows(trans_a, m, k), cols(trans_a, m, k), Eigen::OuterStride<>(Eigen::Index(lda)));
  Matrix op_b = Map(b, rows(trans_b, k, n), cols(trans_b, k, n), Eigen::OuterStride<>(Eigen::Index(ldb)));
  if (trans_a) op_a.transposeInPlace();
  if (trans_b) op_b.transposeInPlace();
  ref.resize(m * n);
  bound.resize(m * n);
  Eigen::Map<Matrix>(ref.data(), Eigen::Index(m), Eigen::Index(n)) = op_a * op_b;
  Eigen::Map<Matrix>(bound.data(), Eigen::Index(m), Eigen::Index(n)) = op_a.cwiseAbs() * op_b.cwiseAbs();
}

}  // namespace oracle
