#include "gemm_baselines.hpp"

#include <Eigen/Dense>
#include <cstdlib>

#ifdef TINYDL_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef TINYDL_HAVE_DNNL
#include <dnnl.h>
#endif

namespace baseline {
namespace {

void eigen_sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a,
                 const float* b, float* c) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<const Matrix>;
  const auto M = Eigen::Index(m), N = Eigen::Index(n), K = Eigen::Index(k);
  Eigen::Map<Matrix> C(c, M, N);
  if (!ta && !tb) C.noalias() = Map(a, M, K) * Map(b, K, N);
  if (!ta && tb) C.noalias() = Map(a, M, K) * Map(b, N, K).transpose();
  if (ta && !tb) C.noalias() = Map(a, K, M).transpose() * Map(b, K, N);
  if (ta && tb) C.noalias() = Map(a, K, M).transpose() * Map(b, N, K).transpose();
}
void eigen_threads(int n) {
  Eigen::setNbThreads(n);
}

#ifdef TINYDL_HAVE_OPENBLAS
void openblas_sgemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a,
                    const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n),
              int(k), 1.0f, a, ta ? int(m) : int(k), b, tb ? int(k) : int(n), 0.0f, c, int(n));
}
void openblas_threads(int n) {
  openblas_set_num_threads(n);
}
#endif

#ifdef TINYDL_HAVE_DNNL
void dnnl_sgemm_row_major(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, const float* a,
                          const float* b, float* c) {
  dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', dnnl_dim_t(m), dnnl_dim_t(n), dnnl_dim_t(k), 1.0f, a,
             ta ? dnnl_dim_t(m) : dnnl_dim_t(k), b, tb ? dnnl_dim_t(k) : dnnl_dim_t(n), 0.0f, c,
             dnnl_dim_t(n));
}
void dnnl_threads(int) {}  // oneDNN uses OpenMP: the thread count set for tinydl applies to it too
#endif

}  // namespace

std::vector<Library> libraries() {
  std::vector<Library> libs = {{"eigen", eigen_sgemm, eigen_threads}};
#ifdef TINYDL_HAVE_OPENBLAS
  libs.push_back({"openblas", openblas_sgemm, openblas_threads});
#endif
#ifdef TINYDL_HAVE_DNNL
  libs.push_back({"onednn", dnnl_sgemm_row_major, dnnl_threads});
#endif
  return libs;
}

std::string describe() {
  std::string s = "Eigen " + std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) +
                  "." + std::to_string(EIGEN_MINOR_VERSION);
#ifdef TINYDL_HAVE_OPENBLAS
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  s += std::string("; OpenBLAS kernel ") + openblas_get_corename() +
       (coretype ? std::string(" (OPENBLAS_CORETYPE=") + coretype + ")"
                 : std::string(" (Debian's 0.3.21 falls back to Prescott/SSE3 on this CPU unless "
                               "OPENBLAS_CORETYPE=SkylakeX is set)"));
#else
  s += "; OpenBLAS not found (libopenblas-dev)";
#endif
#ifdef TINYDL_HAVE_DNNL
  const dnnl_version_t* v = dnnl_version();
  s += "; oneDNN " + std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
       std::to_string(v->patch);
#else
  s += "; oneDNN not found (libdnnl-dev)";
#endif
  return s;
}

}  // namespace baseline
