// Tests of include/tinydl/kernels: GEMM against Eigen, im2col/col2im and max pooling against
// naive loops, elementwise helpers against hand-computed values, and thread-count invariance.
#include <tinydl/tinydl.hpp>

#include <catch2/catch.hpp>

#include "eigen_oracle.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace tinydl;
using namespace tinydl::kernels;

namespace {

template <typename T>
std::vector<T> random_vector(std::size_t n, std::mt19937& gen) {
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& x : v) x = static_cast<T>(dist(gen));
  return v;
}

// One GEMM case: random A, B, C with padded leading dimensions, the product by tinydl and by
// Eigen in double, and a per-element check against the standard floating-point error bound
//   |C - C_ref| <= c * eps * (k + 2) * (|alpha| * (|op(A)| |op(B)|) + |beta| |C0|).
template <typename T>
void check_gemm(Trans ta, Trans tb, std::size_t m, std::size_t n, std::size_t k, T alpha, T beta,
                std::size_t pad, std::mt19937& gen, const GemmEpilogue<T>& epilogue = {}) {
  const std::size_t a_rows = ta == Trans::yes ? k : m, a_cols = ta == Trans::yes ? m : k;
  const std::size_t b_rows = tb == Trans::yes ? n : k, b_cols = tb == Trans::yes ? k : n;
  const std::size_t lda = a_cols + pad, ldb = b_cols + pad, ldc = n + pad;
  const auto a = random_vector<T>(a_rows * lda, gen);
  const auto b = random_vector<T>(b_rows * ldb, gen);
  auto c = random_vector<T>(m * ldc, gen);
  if (beta == T(0)) std::fill(c.begin(), c.end(), std::numeric_limits<T>::quiet_NaN());  // must not leak
  const auto c0 = c;

  gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc, epilogue);

  const std::vector<double> a64(a.begin(), a.end()), b64(b.begin(), b.end());
  std::vector<double> ref, bound;
  oracle::gemm_reference(ta == Trans::yes, tb == Trans::yes, m, n, k, a64.data(), lda, b64.data(), ldb, ref,
                         bound);
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      ref[i * n + j] *= double(alpha);
      bound[i * n + j] *= std::abs(double(alpha));
      if (beta != T(0)) {
        ref[i * n + j] += double(beta) * double(c0[i * ldc + j]);
        bound[i * n + j] += std::abs(double(beta) * double(c0[i * ldc + j]));
      }
    }
  const double eps = std::numeric_limits<T>::epsilon();
  std::size_t bad = 0;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) {
      const double scale = (epilogue.row_scale ? double(epilogue.row_scale[i]) : 1.0) *
                           (epilogue.col_scale ? double(epilogue.col_scale[j]) : 1.0);
      double expected = ref[i * n + j] * scale + (epilogue.row_bias ? double(epilogue.row_bias[i]) : 0.0) +
                        (epilogue.col_bias ? double(epilogue.col_bias[j]) : 0.0);
      if (epilogue.relu) expected = std::max(expected, 0.0);
      const double got = c[i * ldc + j];
      const double tol = 2 * eps * double(k + 3) * (bound[i * n + j] * std::abs(scale) + 1e-30) +
                         4 * eps * std::abs(expected);
      if (!(std::abs(got - expected) <= tol)) ++bad;
    }
  // The padding between rows of C is never touched.
  std::size_t pad_changed = 0;
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = n; j < ldc; ++j)
      if (!(c[i * ldc + j] == c0[i * ldc + j] || (std::isnan(c[i * ldc + j]) && std::isnan(c0[i * ldc + j]))))
        ++pad_changed;
  INFO("m=" << m << " n=" << n << " k=" << k << " trans_a=" << (ta == Trans::yes)
            << " trans_b=" << (tb == Trans::yes) << " alpha=" << alpha << " beta=" << beta << " pad=" << pad);
  CHECK(bad == 0);
  CHECK(pad_changed == 0);
}

template <typename T>
std::vector<std::size_t> awkward_sizes() {
  constexpr std::size_t MR = MicroTile<T>::mr, NR = MicroTile<T>::nr;
  return {1, 2, 7, MR - 1, MR, MR + 1, NR - 1, NR, NR + 1, 31, 67};
}

}  // namespace

TEMPLATE_TEST_CASE("gemm matches Eigen on awkward shapes, all transposes, alpha and beta", "[kernels][gemm]",
                   float, double) {
  std::mt19937 gen(42);
  const auto sizes = awkward_sizes<TestType>();
  const Trans both[] = {Trans::no, Trans::yes};
  for (Trans ta : both)
    for (Trans tb : both)
      for (std::size_t m : sizes)
        for (std::size_t n : sizes) {
          const std::size_t k = sizes[(m * 7 + n * 3) % sizes.size()];
          check_gemm<TestType>(ta, tb, m, n, k, TestType(1), TestType(0), (m + n) % 3, gen);
        }
}

TEMPLATE_TEST_CASE("gemm handles k across cache blocks, alpha/beta and NaN garbage", "[kernels][gemm]", float,
                   double) {
  std::mt19937 gen(7);
  const std::size_t kc = GemmBlocking<TestType>::kc;
  struct Case {
    std::size_t m, n, k;
    TestType alpha, beta;
  };
  const Case cases[] = {
      {5, 9, 1, 1, 0},          {13, 29, kc - 1, 1, 1}, {17, 50, kc, -0.5, 0.25}, {9, 70, kc + 1, 2, -1},
      {3, 3, 2 * kc + 5, 1, 0}, {20, 33, 2500, 1, 0.5}, {4, 4, 0, 1, 0.5},        {6, 11, 0, 1, 0},
      {8, 16, 40, 0, 0.75},     {7, 5, 12, 0, 0},
  };
  for (const Case& c : cases)
    for (Trans ta : {Trans::no, Trans::yes})
      for (Trans tb : {Trans::no, Trans::yes})
        check_gemm<TestType>(ta, tb, c.m, c.n, c.k, c.alpha, c.beta, 3, gen);
}

TEMPLATE_TEST_CASE("gemm is correct on products larger than one MC x NC block", "[kernels][gemm]", float,
                   double) {
  std::mt19937 gen(3);
  using B = GemmBlocking<TestType>;
  check_gemm<TestType>(Trans::no, Trans::no, B::mc + 9, B::nc + 37, B::kc + 50, TestType(1), TestType(0.5), 1,
                       gen);
  check_gemm<TestType>(Trans::yes, Trans::yes, B::mc + 3, B::nc + 5, 2 * B::kc + 1, TestType(1), TestType(0),
                       0, gen);
  check_gemm<TestType>(Trans::no, Trans::yes, 2 * B::mc + 1, 40, 100, TestType(-1), TestType(0), 2,
                       gen);  // row split
  // Few rows: B is read in place, with a ragged last panel, across NC and KC blocks.
  static_assert(64 <= gemm_in_place_b_max_rows);
  check_gemm<TestType>(Trans::no, Trans::no, 64, 2 * B::nc + B::nr / 2 + 1, B::kc + 9, TestType(1),
                       TestType(0), 5, gen);
  check_gemm<TestType>(Trans::yes, Trans::no, gemm_in_place_b_max_rows, B::nc + 1, 70, TestType(1),
                       TestType(1), 0, gen);
}

TEMPLATE_TEST_CASE("gemm with few columns and a long k (the dot-product path) matches Eigen",
                   "[kernels][gemm]", float, double) {
  // A B^T with n < dot_max_columns and k >= dot_min_depth: blocks of 4 x 4 dot products and
  // their edges, k chunks and a ragged last vector, slabs of rows, alpha, beta, NaN garbage.
  std::mt19937 gen(13);
  struct Case {
    std::size_t m, n, k;
    TestType alpha, beta;
  };
  const std::size_t k0 = dot_min_depth;
  const Case cases[] = {{1, 1, k0, 1, 0},        {3, 9, k0 + 1, 1, 0},  {4, 4, 1024, 2, 0.5},
                        {5, 5, 1024 + 17, 1, 1}, {32, 9, 2704, 1, 0},   {37, 15, 3 * 1024 + 5, -1, 0.25},
                        {8, 2, 5000, 0.5, 0},    {600, 15, 300, 1, 0.5}};
  for (const Case& c : cases)
    check_gemm<TestType>(Trans::no, Trans::yes, c.m, c.n, c.k, c.alpha, c.beta, 1, gen);
  const auto bias = random_vector<TestType>(9, gen);
  check_gemm<TestType>(Trans::no, Trans::yes, 13, 9, 700, TestType(1), TestType(0), 0, gen,
                       {nullptr, bias.data(), true});
}

TEMPLATE_TEST_CASE("gemm epilogue adds row or column bias and applies ReLU", "[kernels][gemm]", float,
                   double) {
  std::mt19937 gen(11);
  for (std::size_t k : {std::size_t{5}, GemmBlocking<TestType>::kc + 7}) {
    const auto row_bias = random_vector<TestType>(45, gen), col_bias = random_vector<TestType>(77, gen);
    check_gemm<TestType>(Trans::no, Trans::no, 45, 77, k, TestType(1), TestType(0), 0, gen,
                         {row_bias.data(), nullptr, true});
    check_gemm<TestType>(Trans::no, Trans::yes, 45, 77, k, TestType(1), TestType(0), 1, gen,
                         {nullptr, col_bias.data(), false});
    check_gemm<TestType>(Trans::yes, Trans::no, 45, 77, k, TestType(0.5), TestType(1), 2, gen,
                         {row_bias.data(), col_bias.data(), true});
  }
  // Per-row and per-column scales (a BatchNorm folded into a conv or dense layer), before the bias.
  const auto row_scale = random_vector<TestType>(45, gen), col_scale = random_vector<TestType>(77, gen);
  const auto row_bias = random_vector<TestType>(45, gen), col_bias = random_vector<TestType>(77, gen);
  check_gemm<TestType>(Trans::no, Trans::no, 45, 77, 300, TestType(1), TestType(0), 0, gen,
                       {row_bias.data(), nullptr, true, row_scale.data(), nullptr});
  check_gemm<TestType>(Trans::no, Trans::yes, 45, 77, 300, TestType(1), TestType(0), 1, gen,
                       {nullptr, col_bias.data(), false, nullptr, col_scale.data()});
  check_gemm<TestType>(Trans::no, Trans::yes, 45, 77, 5, TestType(1), TestType(0), 0, gen,
                       {row_bias.data(), col_bias.data(), true, row_scale.data(), col_scale.data()});
  // The epilogue also applies when there is no product (k = 0): C = relu(beta*C + bias).
  std::vector<TestType> c = {-1, 2, 3, -4}, bias = {0.5, -3};
  gemm<TestType>(Trans::no, Trans::no, 2, 2, 0, 1, nullptr, 1, nullptr, 2, 1, c.data(), 2,
                 {nullptr, bias.data(), true});
  CHECK(c == std::vector<TestType>{0, 0, 3.5, 0});
}

TEST_CASE("gemm gives bit-identical results with 1, 2 and 3 threads", "[kernels][gemm][threads]") {
  // Shapes split by columns and by rows, with bands that end inside micro-tiles, edge tiles of
  // every kind, beta != 0 and an epilogue.
  std::mt19937 gen(5);
  struct Case {
    Trans ta, tb;
    std::size_t m, n, k;
    float beta;
  };
  const Case cases[] = {
      {Trans::no, Trans::yes, 64, 7744, 288, 0.0f}, {Trans::no, Trans::yes, 300, 97, 700, 0.0f},
      {Trans::no, Trans::yes, 33, 1000, 50, 0.5f},  {Trans::no, Trans::yes, 64, 128, 1600, 0.0f},
      {Trans::yes, Trans::no, 9, 1000, 32, 1.0f},   {Trans::yes, Trans::no, 250, 784, 64, 0.5f},
      {Trans::no, Trans::no, 61, 200, 90, -1.0f},   {Trans::no, Trans::yes, 37, 9, 3000, 0.5f}};
  for (const Case& s : cases) {
    const auto a = random_vector<float>(s.m * s.k, gen), b = random_vector<float>(s.k * s.n, gen);
    const auto c0 = random_vector<float>(s.m * s.n, gen), bias = random_vector<float>(s.n, gen);
    const std::size_t lda = s.ta == Trans::yes ? s.m : s.k, ldb = s.tb == Trans::yes ? s.k : s.n;
    std::vector<float> reference;
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      std::vector<float> c = c0;
      gemm(s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, s.beta, c.data(), s.n,
           GemmEpilogue<float>{nullptr, bias.data(), true});
      INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " threads=" << threads);
      if (reference.empty())
        reference = c;
      else
        CHECK(c == reference);
    }
  }
  set_num_threads(2);
}

TEST_CASE("gemm with B packed once (PackedB) gives the bits of gemm without, for any thread count",
          "[kernels][gemm][packed]") {
  // Dense layers' shapes (one example, a batch; n ragged and wider than NC, k across KC slices),
  // both storage orders of B, beta != 0 and an epilogue.
  std::mt19937 gen(11);
  struct Case {
    Trans tb;
    std::size_t m, n, k;
    float beta;
  };
  const Case cases[] = {{Trans::yes, 1, 256, 784, 0.0f},    {Trans::yes, 1, 128, 1600, 0.0f},
                        {Trans::yes, 64, 256, 3136, 0.0f},  {Trans::yes, 3, 10, 128, 0.5f},
                        {Trans::yes, 200, 1000, 700, 0.0f}, {Trans::no, 5, 777, 400, 1.0f},
                        {Trans::no, 130, 97, 50, 0.0f}};
  for (const Case& s : cases) {
    const auto a = random_vector<float>(s.m * s.k, gen), b = random_vector<float>(s.k * s.n, gen);
    const auto c0 = random_vector<float>(s.m * s.n, gen), bias = random_vector<float>(s.n, gen);
    const std::size_t ldb = s.tb == Trans::yes ? s.k : s.n;
    const PackedB<float> packed(s.tb, s.k, s.n, b.data(), ldb);
    const GemmEpilogue<float> epilogue{nullptr, bias.data(), true};
    for (int threads : {1, 2, 3}) {
      set_num_threads(threads);
      std::vector<float> plain = c0, with_packed = c0;
      gemm(Trans::no, s.tb, s.m, s.n, s.k, 1.0f, a.data(), s.k, b.data(), ldb, s.beta, plain.data(), s.n,
           epilogue);
      gemm(Trans::no, s.tb, s.m, s.n, s.k, 1.0f, a.data(), s.k, b.data(), ldb, s.beta, with_packed.data(),
           s.n, epilogue, &packed);
      INFO("m=" << s.m << " n=" << s.n << " k=" << s.k << " threads=" << threads);
      CHECK(with_packed == plain);
    }
  }
  set_num_threads(2);
  // A packed B of another product is refused.
  const std::vector<float> a(4 * 8), b(8 * 6);
  std::vector<float> c(4 * 6);
  const PackedB<float> other(Trans::no, 8, 5, b.data(), 6);
  CHECK_THROWS_AS(
      gemm(Trans::no, Trans::no, 4, 6, 8, 1.0f, a.data(), 8, b.data(), 6, 0.0f, c.data(), 6, {}, &other),
      ConfigError);
}

TEST_CASE("gemm rejects leading dimensions smaller than the rows they stride", "[kernels][gemm]") {
  std::vector<float> a(100), b(100), c(100);
  CHECK_THROWS_WITH(gemm(Trans::no, Trans::no, 4, 5, 6, 1.0f, a.data(), 5, b.data(), 5, 0.0f, c.data(), 5),
                    "gemm: lda = 5 is less than the k = 6 values of a stored row of A");
  CHECK_THROWS_WITH(gemm(Trans::no, Trans::yes, 4, 5, 6, 1.0f, a.data(), 6, b.data(), 5, 0.0f, c.data(), 5),
                    "gemm: ldb = 5 is less than the k = 6 values of a stored row of B");
  CHECK_THROWS_AS(gemm(Trans::no, Trans::no, 4, 5, 6, 1.0f, a.data(), 6, b.data(), 5, 0.0f, c.data(), 4),
                  ConfigError);
}

// ---- im2col / col2im ---------------------------------------------------------------------------

namespace {

// The defining formula of im2col, one element at a time.
template <typename T>
T naive_col(const Window2d& g, const std::vector<T>& x, std::size_t row, std::size_t column) {
  const std::size_t c = row / (g.kernel_h * g.kernel_w), i = row / g.kernel_w % g.kernel_h,
                    j = row % g.kernel_w;
  const std::size_t oh = column / g.out_w(), ow = column % g.out_w();
  const long h = long(oh * g.stride_h + i) - long(g.pad_h), w = long(ow * g.stride_w + j) - long(g.pad_w);
  if (h < 0 || w < 0 || h >= long(g.in_h) || w >= long(g.in_w)) return T(0);
  return x[(c * g.in_h + std::size_t(h)) * g.in_w + std::size_t(w)];
}

std::vector<Window2d> conv_geometries() {
  //            C  H   W  kh kw sh sw ph pw
  return {Window2d{1, 28, 28, 3, 3, 1, 1, 0, 0}, Window2d{3, 7, 5, 3, 3, 1, 1, 1, 1},
          Window2d{2, 9, 11, 5, 5, 2, 2, 2, 2},  Window2d{4, 6, 6, 1, 1, 1, 1, 0, 0},
          Window2d{2, 8, 7, 3, 2, 2, 1, 1, 0},   Window2d{1, 5, 9, 5, 3, 3, 2, 2, 1},
          Window2d{3, 4, 4, 4, 4, 1, 1, 0, 0},   Window2d{2, 1, 6, 1, 3, 1, 2, 0, 1},
          Window2d{1, 20, 3, 17, 1, 1, 1, 1, 0},  // a kernel taller than for_each_patch_row caches
          Window2d{1, 2, 3, 5, 5, 1, 1, 2, 2},    // window rows and columns that see only padding
          Window2d{2, 5, 40, 3, 3, 1, 1, 1, 1}};  // rows of 40: whole vectors and a masked tail
}

}  // namespace

TEMPLATE_TEST_CASE("im2col matches the defining formula for strides, paddings and kernel sizes",
                   "[kernels][im2col]", float, double) {
  using T = TestType;
  std::mt19937 gen(1);
  for (const Window2d& g : conv_geometries()) {
    g.validate("test");
    const auto x = random_vector<T>(g.channels * g.in_h * g.in_w, gen);
    const std::size_t rows = g.patch_size(), cols = g.out_pixels(), ld = cols + 3;
    std::vector<T> col(rows * ld, T(-99));
    im2col(g, x.data(), col.data(), ld);
    std::size_t bad = 0, pad_touched = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      for (std::size_t p = 0; p < cols; ++p) bad += col[r * ld + p] != naive_col(g, x, r, p);
      for (std::size_t p = cols; p < ld; ++p) pad_touched += col[r * ld + p] != T(-99);
    }
    INFO("geometry C=" << g.channels << " " << g.in_h << "x" << g.in_w << " k=" << g.kernel_h << "x"
                       << g.kernel_w << " s=" << g.stride_h << "x" << g.stride_w << " p=" << g.pad_h << "x"
                       << g.pad_w);
    CHECK(bad == 0);
    CHECK(pad_touched == 0);
  }
}

TEMPLATE_TEST_CASE("col2im is the adjoint of im2col and accumulates", "[kernels][im2col]", float, double) {
  using T = TestType;
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  std::mt19937 gen(2);
  for (const Window2d& g : conv_geometries()) {
    const std::size_t image = g.channels * g.in_h * g.in_w, rows = g.patch_size(), cols = g.out_pixels();
    const auto col = random_vector<T>(rows * cols, gen);
    const auto start = random_vector<T>(image, gen);
    // Naive scatter: every column entry goes back to the pixel im2col took it from.
    std::vector<double> expected(start.begin(), start.end());
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t p = 0; p < cols; ++p) {
        const std::size_t c = r / (g.kernel_h * g.kernel_w), i = r / g.kernel_w % g.kernel_h,
                          j = r % g.kernel_w;
        const long h = long(p / g.out_w() * g.stride_h + i) - long(g.pad_h);
        const long w = long(p % g.out_w() * g.stride_w + j) - long(g.pad_w);
        if (h >= 0 && w >= 0 && h < long(g.in_h) && w < long(g.in_w))
          expected[(c * g.in_h + std::size_t(h)) * g.in_w + std::size_t(w)] += col[r * cols + p];
      }
    std::vector<T> dx = start;
    col2im(g, col.data(), cols, dx.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < image; ++i) bad += !(std::abs(double(dx[i]) - expected[i]) <= tol * 10);
    CHECK(bad == 0);

    // <im2col(x), col> == <x, col2im(col)>
    const auto x = random_vector<T>(image, gen);
    std::vector<T> x_col(rows * cols), back(image, T(0));
    im2col(g, x.data(), x_col.data(), cols);
    col2im(g, col.data(), cols, back.data());
    double lhs = 0, rhs = 0;
    for (std::size_t i = 0; i < rows * cols; ++i) lhs += double(x_col[i]) * double(col[i]);
    for (std::size_t i = 0; i < image; ++i) rhs += double(x[i]) * double(back[i]);
    CHECK(lhs == Approx(rhs).epsilon(tol * 10));
  }
}

TEST_CASE("conv2d_forward and conv2d_backward are a direct convolution and its gradients",
          "[kernels][conv2d]") {
  std::mt19937 gen(4);
  // Geometries for each way a batch runs: one image per GEMM (576 output pixels), two (256),
  // four (20, strided), the pointwise 1x1 kernel that skips im2col, and the implicit GEMM's
  // stride-1 cases ("same" 3x3 above, "valid", 5x5, a 3x2 kernel, 1x1 padded).
  //                        C   H   W  kh kw sh sw ph pw
  for (const Window2d& g : {Window2d{3, 24, 24, 3, 3, 1, 1, 1, 1}, Window2d{2, 16, 16, 3, 3, 1, 1, 1, 1},
                            Window2d{3, 9, 8, 3, 3, 2, 1, 1, 1}, Window2d{5, 6, 7, 1, 1, 1, 1, 0, 0},
                            Window2d{2, 12, 10, 3, 3, 1, 1, 0, 0}, Window2d{2, 9, 9, 5, 5, 1, 1, 2, 2},
                            Window2d{3, 7, 6, 3, 2, 1, 1, 1, 1}, Window2d{2, 5, 4, 1, 1, 1, 1, 1, 0}}) {
    const std::size_t n = 7, filters = 6, pixels = g.out_pixels(), patch = g.patch_size();
    const std::size_t image = g.channels * g.in_h * g.in_w;
    const Conv2dGeometry c{g, filters};
    INFO("window " << g.channels << "x" << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h << " stride "
                   << g.stride_h << ": " << c.images_per_gemm() << " image(s) per GEMM");
    const auto x = random_vector<double>(n * image, gen),
               weight = random_vector<double>(filters * patch, gen);
    const auto bias = random_vector<double>(filters, gen),
               dy = random_vector<double>(n * filters * pixels, gen);
    // The input pixel under output (oh, ow) and kernel tap (i, j), or -1 in the padding.
    const auto source = [&](std::size_t oh, std::size_t ow, std::size_t i, std::size_t j) -> long {
      const long h = long(oh * g.stride_h + i) - long(g.pad_h), w = long(ow * g.stride_w + j) - long(g.pad_w);
      return h < 0 || w < 0 || h >= long(g.in_h) || w >= long(g.in_w) ? -1 : h * long(g.in_w) + w;
    };
    std::vector<double> y(n * filters * pixels), y_direct(y.size()), dw_direct(weight.size(), 0.0),
        db_direct(filters, 0.0), dx_direct(x.size(), 0.0);
    for (std::size_t b = 0; b < n; ++b)
      for (std::size_t f = 0; f < filters; ++f)
        for (std::size_t oh = 0; oh < g.out_h(); ++oh)
          for (std::size_t ow = 0; ow < g.out_w(); ++ow) {
            const std::size_t out = (b * filters + f) * pixels + oh * g.out_w() + ow;
            double sum = bias[f];
            db_direct[f] += dy[out];
            for (std::size_t ch = 0; ch < g.channels; ++ch)
              for (std::size_t i = 0; i < g.kernel_h; ++i)
                for (std::size_t j = 0; j < g.kernel_w; ++j) {
                  const long at = source(oh, ow, i, j);
                  if (at < 0) continue;
                  const std::size_t in = b * image + ch * g.in_h * g.in_w + std::size_t(at);
                  const std::size_t w = ((f * g.channels + ch) * g.kernel_h + i) * g.kernel_w + j;
                  sum += weight[w] * x[in];
                  dw_direct[w] += dy[out] * x[in];
                  dx_direct[in] += dy[out] * weight[w];
                }
            y_direct[out] = sum;
          }
    Conv2dScratch<double> scratch;
    conv2d_forward(c, n, x.data(), weight.data(), bias.data(), y.data(), scratch);
    std::size_t bad = 0;
    for (std::size_t i = 0; i < y.size(); ++i) bad += !(std::abs(y[i] - y_direct[i]) <= 1e-12);
    CHECK(bad == 0);

    // Gradients are added to what is there (0.5), dx is overwritten (it starts as NaN).
    std::vector<double> dw(weight.size(), 0.5), db(filters, 0.5), dx(x.size(), std::nan(""));
    conv2d_backward(c, n, x.data(), weight.data(), dy.data(), dw.data(), db.data(), dx.data(), scratch);
    bad = 0;
    for (std::size_t i = 0; i < dw.size(); ++i) bad += !(std::abs(dw[i] - 0.5 - dw_direct[i]) <= 1e-11);
    for (std::size_t i = 0; i < filters; ++i) bad += !(std::abs(db[i] - 0.5 - db_direct[i]) <= 1e-11);
    for (std::size_t i = 0; i < dx.size(); ++i) bad += !(std::abs(dx[i] - dx_direct[i]) <= 1e-11);
    CHECK(bad == 0);

    // Without bias and input gradients only the weight gradient is written, the same bits.
    std::vector<double> dw_only(weight.size(), 0.5);
    conv2d_backward(c, n, x.data(), weight.data(), dy.data(), dw_only.data(), static_cast<double*>(nullptr),
                    static_cast<double*>(nullptr), scratch);
    CHECK(dw_only == dw);
  }
}

TEST_CASE("a stride-1 convolution's implicit GEMM gives im2col + gemm's bits", "[kernels][conv2d]") {
  // The forward pass reads its column matrix in place from padded images: each output must be
  // the bits of the GEMM on the im2col matrix (the same FMA chain over the same KC slices, then
  // the epilogue), for every tile, image group, column split and thread count. The ResNet's
  // shapes, "valid" ones, a depth over KC (64 channels x 9 = 576 > 384), and a fused pooling.
  std::mt19937 gen(11);
  //                          C   H   W  kh kw sh sw ph pw  filters
  const std::vector<std::pair<Window2d, std::size_t>> cases{
      {Window2d{16, 28, 28, 3, 3, 1, 1, 1, 1}, 16}, {Window2d{32, 14, 14, 3, 3, 1, 1, 1, 1}, 32},
      {Window2d{64, 7, 7, 3, 3, 1, 1, 1, 1}, 64},   {Window2d{2, 28, 28, 3, 3, 1, 1, 0, 0}, 16},
      {Window2d{32, 13, 13, 3, 3, 1, 1, 0, 0}, 13}, {Window2d{3, 11, 9, 5, 5, 1, 1, 2, 2}, 6}};
  for (const auto& [g, filters] : cases) {
    INFO("window " << g.channels << "x" << g.in_h << "x" << g.in_w << " kernel " << g.kernel_h << " pad "
                   << g.pad_h << ", " << filters << " filters");
    const std::size_t patch = g.patch_size(), pixels = g.out_pixels();
    const Conv2dGeometry c{g, filters};
    REQUIRE(c.implicit());
    const auto weight = random_vector<float>(filters * patch, gen), bias = random_vector<float>(filters, gen);
    const auto scale = random_vector<float>(filters, gen);
    GemmEpilogue<float> epilogue;
    epilogue.row_bias = bias.data();
    epilogue.row_scale = scale.data();
    epilogue.relu = true;
    const Window2d pool{filters, g.out_h(), g.out_w(), 2, 2, 2, 2, 0, 0};
    for (const std::size_t n : {std::size_t{1}, std::size_t{7}}) {
      const auto x = random_vector<float>(n * c.in_image(), gen);
      std::vector<float> expected(n * c.out_image()), col(patch * pixels);
      for (std::size_t b = 0; b < n; ++b) {
        im2col(g, x.data() + b * c.in_image(), col.data(), pixels);
        gemm(Trans::no, Trans::no, filters, pixels, patch, 1.0f, weight.data(), patch, col.data(), pixels,
             0.0f, expected.data() + b * c.out_image(), pixels, epilogue);
      }
      std::vector<float> expected_pooled(n * filters * pool.out_pixels());
      std::vector<std::int32_t> arg(pool.out_pixels());
      for (std::size_t plane = 0; plane < n * filters; ++plane)
        maxpool_plane(pool, expected.data() + plane * pixels,
                      expected_pooled.data() + plane * pool.out_pixels(), arg.data());
      for (const int threads : {1, 2}) {
        set_num_threads(threads);
        Conv2dScratch<float> scratch;
        std::vector<float> y(expected.size(), std::nanf("")), pooled(expected_pooled.size(), std::nanf(""));
        conv2d_forward(c, n, x.data(), weight.data(), epilogue, y.data(), scratch);
        CHECK(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)) == 0);
        conv2d_forward(c, n, x.data(), weight.data(), epilogue, pooled.data(), scratch, &pool);
        CHECK(std::memcmp(pooled.data(), expected_pooled.data(), pooled.size() * sizeof(float)) == 0);
      }

      // The weight gradient reads the column matrix in place from the padded images: dW^T =
      // col dy^T on the padded layout's column matrix (dy zero in the columns nobody keeps),
      // each element one FMA chain per slice of conv2d_weight_grad_slice, the slices' sums added
      // in order (exactly so where the micro-kernels fuse; the portable build's may not).
      const PaddedImages layout(g, n);
      const std::size_t columns = layout.columns(n);
      std::vector<float> xp(g.channels * layout.plane), dy_p(filters * columns), col_p(patch * columns);
      std::vector<float> dy_t(columns * filters),
          packed(packed_output_gradient_size<float>(filters, columns));
      std::vector<std::ptrdiff_t> offsets(patch);
      const auto dy = random_vector<float>(n * c.out_image(), gen);
      pad_images(g, layout, x.data(), n, xp.data());
      expand_images(layout, g.out_h(), g.out_w(), filters, n, dy.data(), dy_p.data(), columns);
      column_row_offsets(g, layout, offsets.data());
      for (std::size_t r = 0; r < patch; ++r)
        std::copy_n(xp.data() + offsets[r], columns, col_p.data() + r * columns);
      for (std::size_t f = 0; f < filters; ++f)
        for (std::size_t q = 0; q < columns; ++q) dy_t[q * filters + f] = dy_p[f * columns + q];
      std::vector<float> dw_expected(patch * filters), dw(patch * filters, std::nanf(""));
      for (std::size_t r = 0; r < patch; ++r)
        for (std::size_t f = 0; f < filters; ++f) {
          float total = 0;
          for (std::size_t p0 = 0; p0 < columns; p0 += conv2d_weight_grad_slice) {
            float sum = 0;
            for (std::size_t q = p0; q < std::min(columns, p0 + conv2d_weight_grad_slice); ++q)
              sum = std::fma(col_p[r * columns + q], dy_t[q * filters + f], sum);
            total = p0 == 0 ? sum : sum + total;
          }
          dw_expected[r * filters + f] = total;
        }
      pack_output_gradient(filters, columns, dy_p.data(), columns, packed.data());
      conv2d_implicit_weight_gradient(patch, filters, columns, xp.data(), offsets.data(), packed.data(), 0.0f,
                                      dw.data(), filters);
      if (compiled_isa != Isa::generic) {
        CHECK(std::memcmp(dw.data(), dw_expected.data(), dw.size() * sizeof(float)) == 0);
      } else {
        std::size_t far = 0;
        for (std::size_t i = 0; i < dw.size(); ++i)
          far += !(std::abs(dw[i] - dw_expected[i]) <= 1e-4f * (1 + std::abs(dw_expected[i])));
        CHECK(far == 0);
      }
      // and expand_images puts each pixel where compact_images finds it
      std::vector<float> dy_back(dy.size());
      compact_images(layout, g.out_h(), g.out_w(), filters, n, dy_p.data(), columns, dy_back.data());
      CHECK(dy_back == dy);
    }
  }
  set_num_threads(2);
}

TEST_CASE("Window2d validation names the problem", "[kernels][im2col]") {
  CHECK_THROWS_WITH((Window2d{1, 2, 2, 3, 3, 1, 1, 0, 0}.validate("Conv2D")),
                    "Conv2D: a 3x3 kernel does not fit a 2x2 input padded by (0, 0)");
  CHECK_THROWS_WITH((Window2d{1, 5, 5, 3, 3, 0, 1, 0, 0}.validate("MaxPool2D")),
                    "MaxPool2D: stride must be at least 1, got 0x1");
  CHECK_NOTHROW((Window2d{1, 2, 2, 3, 3, 1, 1, 1, 1}.validate("Conv2D")));
  CHECK((Window2d{1, 28, 28, 3, 3, 1, 1, 1, 1}.out_h()) == 28);
  CHECK((Window2d{1, 13, 13, 3, 3, 2, 2, 0, 0}.out_w()) == 6);
}

// ---- max pooling -------------------------------------------------------------------------------

TEST_CASE("maxpool forward and backward match naive loops", "[kernels][pooling]") {
  std::mt19937 gen(9);
  //                          planes H  W  k  k  s  s  p  p
  const Window2d geometries[] = {{6, 28, 28, 2, 2, 2, 2, 0, 0}, {3, 13, 13, 3, 3, 2, 2, 0, 0},
                                 {2, 13, 13, 2, 2, 2, 2, 0, 0}, {2, 7, 9, 3, 3, 2, 2, 1, 1},
                                 {4, 5, 8, 2, 3, 1, 2, 0, 1},   {1, 11, 11, 2, 2, 2, 2, 0, 0}};
  for (const Window2d& g : geometries) {
    const std::size_t planes = g.channels, in = g.in_h * g.in_w, out = g.out_pixels();
    const auto x = random_vector<float>(planes * in, gen), dy = random_vector<float>(planes * out, gen);
    std::vector<float> y(planes * out);
    std::vector<std::int32_t> argmax(planes * out);
    maxpool_forward(g, planes, x.data(), y.data(), argmax.data());
    std::vector<float> expected_dx(planes * in, 0.0f);
    for (std::size_t p = 0; p < planes; ++p)
      for (std::size_t oh = 0; oh < g.out_h(); ++oh)
        for (std::size_t ow = 0; ow < g.out_w(); ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          std::size_t best_index = 0;
          for (std::size_t i = 0; i < g.kernel_h; ++i)
            for (std::size_t j = 0; j < g.kernel_w; ++j) {
              const long h = long(oh * g.stride_h + i) - long(g.pad_h),
                         w = long(ow * g.stride_w + j) - long(g.pad_w);
              if (h < 0 || w < 0 || h >= long(g.in_h) || w >= long(g.in_w)) continue;
              const std::size_t index = std::size_t(h) * g.in_w + std::size_t(w);
              if (x[p * in + index] > best) best = x[p * in + index], best_index = index;
            }
          const std::size_t o = p * out + oh * g.out_w() + ow;
          CHECK(y[o] == best);
          CHECK(argmax[o] == std::int32_t(best_index));
          expected_dx[p * in + best_index] += dy[o];
        }
    std::vector<float> dx(planes * in, 7.0f);  // garbage: backward overwrites dx
    maxpool_backward(g, planes, dy.data(), argmax.data(), dx.data());
    for (std::size_t i = 0; i < dx.size(); ++i) CHECK(dx[i] == Approx(expected_dx[i]).margin(1e-6));
  }
}

TEST_CASE("maxpool takes the first maximum on ties and propagates NaN", "[kernels][pooling]") {
  // The same two windows through the 2x2 stride-2 loop and (stride 1 down a 2-row image) the general one.
  for (const Window2d& g : {Window2d{1, 2, 4, 2, 2, 2, 2, 0, 0}, Window2d{1, 2, 4, 2, 2, 1, 2, 0, 0}}) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> x = {1, 5, 2, nan, 5, 5, 2, 2};
    std::vector<float> y(2);
    std::vector<std::int32_t> arg(2);
    maxpool_forward(g, 1, x.data(), y.data(), arg.data());
    CHECK(y[0] == 5.0f);
    CHECK(arg[0] == 1);
    CHECK(std::isnan(y[1]));
    CHECK(arg[1] == 3);
  }
}

TEST_CASE("maxpool's vector 2x2 loops keep the tie and NaN rules in every lane", "[kernels][pooling]") {
  // Values from {0, 1, NaN}: most windows tie or hold a NaN. Widths give full vectors of 8 and 16
  // windows and every tail length of both the AVX2 and the AVX-512 loop.
  std::mt19937 gen(12);
  const float nan = std::numeric_limits<float>::quiet_NaN(), choices[] = {0.0f, 1.0f, nan};
  for (std::size_t out_w = 1; out_w <= 35; ++out_w) {
    const Window2d g{3, 4, 2 * out_w + 1, 2, 2, 2, 2, 0, 0};  // an odd last column is dropped
    const std::size_t in = g.in_h * g.in_w, out = g.out_pixels();
    std::vector<float> x(g.channels * in);
    for (float& v : x) v = choices[gen() % 3];
    std::vector<float> y(g.channels * out + 1, -7.0f);  // one past the end: must stay untouched
    std::vector<std::int32_t> arg(g.channels * out + 1, -7);
    maxpool_forward(g, g.channels, x.data(), y.data(), arg.data());
    CHECK(y.back() == -7.0f);
    CHECK(arg.back() == -7);
    for (std::size_t p = 0; p < g.channels; ++p)
      for (std::size_t oh = 0; oh < g.out_h(); ++oh)
        for (std::size_t ow = 0; ow < out_w; ++ow) {
          std::size_t best = 2 * oh * g.in_w + 2 * ow;  // row-major order; the first one stays on ties
          for (const std::size_t index : {best + 1, best + g.in_w, best + g.in_w + 1}) {
            const float v = x[p * in + index], b = x[p * in + best];
            if (v > b || (std::isnan(v) && !std::isnan(b))) best = index;
          }
          const std::size_t o = p * out + oh * out_w + ow;
          CAPTURE(out_w, p, oh, ow);
          CHECK(arg[o] == std::int32_t(best));
          CHECK(std::memcmp(&y[o], &x[p * in + best], sizeof(float)) == 0);
        }
  }
}

// ---- dropout -----------------------------------------------------------------------------------

TEST_CASE("dropout_mask keeps element i when word i % 4 of Philox block i / 4 is below keep * 2^32",
          "[kernels][dropout]") {
  // The rule of the file comment, one element at a time, against the kernel's blocks drawn 16 at
  // a time: from offsets that start inside a block and inside a 16-block chunk, past one task.
  const CounterRng rng(99);
  const double keep = 0.6;
  const std::uint64_t threshold = static_cast<std::uint64_t>(keep * 4294967296.0);
  for (const std::size_t first : {std::size_t{0}, std::size_t{3}, std::size_t{70}, std::size_t{16389}}) {
    const std::size_t n = 20000 + first % 7;
    std::vector<std::uint8_t> mask(n, 7);
    dropout_mask(rng, 5, n, keep, mask.data(), first);
    std::size_t mismatches = 0, kept = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const std::size_t element = first + i;
      const bool expected = rng.block(5, element / 4)[element % 4] < threshold;
      mismatches += mask[i] != static_cast<std::uint8_t>(expected);
      kept += mask[i];
    }
    CAPTURE(first);
    CHECK(mismatches == 0);
    CHECK(std::abs(double(kept) / double(n) - keep) < 0.02);
  }
}

// ---- elementwise -------------------------------------------------------------------------------

TEST_CASE("elementwise helpers compute what their comments state", "[kernels][elementwise]") {
  const std::vector<double> m = {1, 2, 3, 99, 4, 5, 6, 99};  // 2 x 3 with row stride 4
  std::vector<double> rows = {10, 20}, columns = {1, 1, 1};
  add_row_sums(2, 3, m.data(), 4, rows.data());
  add_column_sums(2, 3, m.data(), 4, columns.data());
  CHECK(rows == std::vector<double>{16, 35});
  CHECK(columns == std::vector<double>{6, 8, 10});

  std::vector<double> v = {1, 2};
  axpy(2, 0.5, m.data(), v.data());
  CHECK(v == std::vector<double>{1.5, 3});
}

TEST_CASE("row sums match naive loops on rows with lanes and tails", "[kernels][elementwise]") {
  std::mt19937 gen(21);
  for (const std::size_t k : {1, 15, 16, 17, 100, 784}) {
    INFO("k = " << k);
    const std::size_t m = 3, ld = k + 5;  // row strides past the width
    const auto a = random_vector<double>(m * ld, gen);
    std::vector<double> sums(m, 1.0), expected_sums(m, 1.0);
    add_row_sums(m, k, a.data(), ld, sums.data());
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t p = 0; p < k; ++p) expected_sums[i] += a[i * ld + p];
    for (std::size_t i = 0; i < m; ++i) CHECK(sums[i] == Approx(expected_sums[i]).margin(1e-14 * double(k)));
  }
}

TEST_CASE("kernels report the instruction set they were compiled for", "[kernels]") {
  const std::string isa = isa_name();
#if defined(__AVX512F__)
  CHECK(isa == "avx512");
  CHECK(MicroTile<float>::nr == 48);
#elif defined(__AVX2__) && defined(__FMA__)
  CHECK(isa == "avx2");
  CHECK(MicroTile<float>::nr == 24);
#else
  CHECK(isa == "generic");
#endif
  WARN("kernels compiled for " << isa << ", micro-tile " << MicroTile<float>::mr << "x"
                               << MicroTile<float>::nr);
}
