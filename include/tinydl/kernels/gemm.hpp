#pragma once
/// @file gemm.hpp
/// General matrix multiply for row-major matrices:
///
///     C = alpha * op(A) * op(B) + beta * C,     op(A): m x k,  op(B): k x n,  C: m x n
///
/// then optionally C = relu(C + bias). The structure is BLIS/Goto's, each layer a small function:
///
///   gemm                split C's columns (or rows) between threads, whichever balances better
///   gemm_serial         (op(A) packed once up front when it fits the A buffer, else per block)
///                       for each NC-wide column block and KC-deep slice of k:
///                         pack_b_panel  -> B block (KC x NC, stays in L2); when C has at most
///                                          gemm_in_place_b_max_rows rows, a B stored k x n is
///                                          read in place instead, all but a ragged last panel
///                         for each MC-tall row block: pack_a_block -> A block
///                           macro_kernel: for each MR-row micro-panel of A (stays in L1),
///                                         for each NR-column micro-panel of B:
///                                           micro-kernel (MR x NR sums in registers; a
///                                           smaller instance on the edges of C)
///
/// Determinism: every element of C is computed by one thread, as one chain of fused
/// multiply-adds over k in the same KC slices in the same order, then scaled the same way,
/// whatever tile it falls in. So the result is bit-identical for any number of threads.

#include <algorithm>
#include <cstddef>
#include <numeric>

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/kernels/gemm_dot.hpp"
#include "tinydl/kernels/gemm_microkernel.hpp"
#include "tinydl/kernels/gemm_pack.hpp"

namespace tinydl::kernels {

/// Whether a GEMM operand is used as stored or transposed.
enum class Trans { no, yes };

/// What to apply to C after the product, while a tile is still in cache:
///
///     C = relu?(C * row_scale[i] * col_scale[j] + row_bias[i] + col_bias[j])
///
/// `row_*` have m entries (a conv layer's per-channel values when C is channels x pixels),
/// `col_*` have n entries (a dense layer's when C is batch x features); a null pointer is a
/// scale of 1 or a bias of 0. The scales carry a BatchNorm folded into the layer before it
/// (inference: BN(Wx + b) = s * (Wx) + (s * b + t) per channel).
template <typename T>
struct GemmEpilogue {
  const T* row_bias = nullptr;
  const T* col_bias = nullptr;
  bool relu = false;
  const T* row_scale = nullptr;
  const T* col_scale = nullptr;

  bool empty() const { return !row_bias && !col_bias && !row_scale && !col_scale && !relu; }
};

/// Cache blocking of the GEMM for scalar type T (see docs/performance.md for how they were chosen):
/// KC x NC of packed B (KC x NC x sizeof(T) = 576 KiB) stays in a 1 MiB L2, an MR x KC
/// micro-panel of A (12 KiB for float) in the 32 KiB L1.
template <typename T>
struct GemmBlocking {
  static constexpr std::size_t mr = MicroTile<T>::mr;
  static constexpr std::size_t nr = MicroTile<T>::nr;
  static constexpr std::size_t kc = 384;
  static constexpr std::size_t nc = (576 * 1024 / (kc * sizeof(T))) / nr * nr;
  /// Column block when B is read in place: smaller, so that this block and the next one (which
  /// the macro-kernel prefetches into L2 while it computes) fit in L2 together.
  static constexpr std::size_t nc_in_place = (384 * 1024 / (kc * sizeof(T))) / nr * nr;
  static constexpr std::size_t mc = 256 / mr * mr;
};

/// Per-thread packing buffers, allocated on a thread's first GEMM and reused by every later one,
/// so a GEMM call allocates nothing in steady state.
template <typename T>
struct GemmWorkspace {
  using B = GemmBlocking<T>;
  AlignedBuffer<T> a_block{B::mc * B::kc};
  AlignedBuffer<T> b_block{B::kc * ((B::nc + B::nr - 1) / B::nr * B::nr)};

  static GemmWorkspace& for_this_thread() {
    thread_local GemmWorkspace workspace;
    return workspace;
  }
};

/// Up to this many rows of C, a B stored k x n is read in place rather than packed (measured on the
/// conv shapes with m = 32 and 64, and on 1024^3: docs/performance.md).
inline constexpr std::size_t gemm_in_place_b_max_rows = 128;

/// op(B), k x n, packed once in the layout the GEMM otherwise packs it into on every call: for
/// each KC slice of k in turn, the NR-column panels of all n columns (kc x NR values each, the last
/// panel padded with zeros). A layer whose weights are B in every call (Dense: y = x W^T) keeps
/// one and skips that copy, which for one example through a dense layer is most of the work
/// (ONNX Runtime "prepacks" weights the same way). `gemm` given one computes the same bits as
/// without it: the micro-kernels read the same values in the same order.
template <typename T>
class PackedB {
 public:
  PackedB() = default;
  /// Packs op(B) of `b` (stored k x n, or n x k when `trans_b` is yes; row stride `ldb`).
  PackedB(Trans trans_b, std::size_t k, std::size_t n, const T* b, std::size_t ldb)
      : trans_(trans_b), k_(k), n_(n), n_padded_((n + nr - 1) / nr * nr), data_(k * n_padded_) {
    const bool transposed = trans_b == Trans::yes;
    for (std::size_t p0 = 0; p0 < k; p0 += kc)
      pack_b_panel<nr>(transposed, std::min(kc, k - p0), n, transposed ? b + p0 : b + p0 * ldb, ldb,
                       data_.data() + p0 * n_padded_);
  }

  bool empty() const { return data_.size() == 0; }
  Trans trans() const { return trans_; }
  std::size_t k() const { return k_; }
  std::size_t n() const { return n_; }
  /// The panels of the KC slice that starts at row `p0` of op(B), from column `j0` (a multiple of NR).
  const T* block(std::size_t p0, std::size_t j0) const {
    return data_.data() + p0 * n_padded_ + j0 * std::min(kc, k_ - p0);
  }

 private:
  static constexpr std::size_t nr = GemmBlocking<T>::nr, kc = GemmBlocking<T>::kc;
  Trans trans_ = Trans::no;
  std::size_t k_ = 0, n_ = 0, n_padded_ = 0;
  AlignedBuffer<T> data_;
};

namespace detail {

/// Where the macro-kernel finds the NR-column micro-panels of a KC x NC block of op(B): packed
/// one after another (`ld` = NR), or in place in B (`ld` = B's row stride) with only the ragged
/// last panel packed. With few rows of A (32 or 64 output channels in a conv layer), each element
/// of B feeds only 2 * m flops and copying B would cost a third of the time; reading it in place
/// costs nothing, since the micro-kernel walks each panel row by row anyway. With many rows of A,
/// each panel is re-read m / MR times at B's stride (often a power of two, which thrashes cache
/// sets), and packing wins: see `gemm_in_place_b_max_rows`.
template <typename T>
struct BBlock {
  const T* data;              // panel p starts at data + p * panel_step
  std::size_t ld;             // stride between the k rows of a panel
  std::size_t panel_step;     // NR * kc when packed, NR when in place
  const T* ragged_panel;      // packed copy of a last panel narrower than NR (stride NR), or null
  const T* next = nullptr;    // in place: the B block these loops read next (same stride), or null
  std::size_t next_cols = 0;  // its width
};

/// Applies the epilogue (scales, biases, ReLU) to an m x n tile of C whose top-left is (row0, col0) of the
/// whole output (so the bias vectors can be indexed).
template <typename T>
void apply_epilogue(const GemmEpilogue<T>& e, std::size_t row0, std::size_t col0, std::size_t m,
                    std::size_t n, T* c, std::size_t ldc) {
  // One simple loop per step, so that each vectorises (one loop testing every option per element
  // did not); the arithmetic is the formula's, in its order.
  const T* cs = e.col_scale ? e.col_scale + col0 : nullptr;
  const T* cb = e.col_bias ? e.col_bias + col0 : nullptr;
  for (std::size_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    const T rs = e.row_scale ? e.row_scale[row0 + i] : T(1);
    const T rb = e.row_bias ? e.row_bias[row0 + i] : T(0);
    if (cs)
      for (std::size_t j = 0; j < n; ++j) row[j] = row[j] * rs * cs[j];
    else if (e.row_scale)
      for (std::size_t j = 0; j < n; ++j) row[j] = row[j] * rs;
    if (cb)
      for (std::size_t j = 0; j < n; ++j) row[j] = row[j] + rb + cb[j];
    else
      for (std::size_t j = 0; j < n; ++j) row[j] = row[j] + rb;
    if (e.relu)  // NaN passes, as in the ReLU layer
      for (std::size_t j = 0; j < n; ++j) row[j] = !(row[j] > T(0)) && row[j] == row[j] ? T(0) : row[j];
  }
}

/// One packed A block (mc x kc) times one packed B block (kc x nc) into C (mc x nc at c), tile by
/// tile; edge tiles use the micro-kernel instance of their size. On the last k slice, `epilogue`
/// is applied to each tile while it is still in L1; (row0, col0) is the position of `c` in the
/// whole output.
template <typename T>
void macro_kernel(std::size_t mc, std::size_t nc, std::size_t kc, const T* a_block, const BBlock<T>& b_block,
                  T alpha, T beta, T* c, std::size_t ldc, const GemmEpilogue<T>* epilogue, std::size_t row0,
                  std::size_t col0) {
  constexpr std::size_t MR = GemmBlocking<T>::mr, NR = GemmBlocking<T>::nr;
  const MicroKernel<T> full_tile = microkernel_for<T>(MR, NR);
  for (std::size_t i0 = 0; i0 < mc; i0 += MR) {
    const std::size_t rows = std::min(MR, mc - i0);
    const T* a_panel = a_block + i0 * kc;
    for (std::size_t j0 = 0; j0 < nc; j0 += NR) {
      const std::size_t cols = std::min(NR, nc - j0);
      const bool ragged = cols < NR && b_block.ragged_panel;
      const T* b_panel = ragged ? b_block.ragged_panel : b_block.data + j0 / NR * b_block.panel_step;
      const std::size_t ldb = ragged ? NR : b_block.ld;
      T* c_tile = c + i0 * ldc + j0;
      const MicroKernel<T> kernel = rows == MR && cols == NR ? full_tile : microkernel_for<T>(rows, cols);
      // Each micro-kernel asks for B 16 rows ahead of the row it reads. When B is read in place,
      // the second row panel's pass (which finds this block in L2) asks instead for the same
      // panel of the next block: a B too large for the caches then arrives while the core
      // computes, rather than during the first pass over the block, whose stride (three cache
      // lines per row of B) the hardware prefetchers do not follow.
      const bool fetch_next = i0 == MR && b_block.next && j0 < b_block.next_cols;
      const T* prefetch = fetch_next ? b_block.next + j0 : b_panel + 16 * ldb;
      kernel(kc, a_panel, b_panel, ldb, alpha, beta, c_tile, ldc, cols, prefetch,
             fetch_next ? b_block.ld : ldb);
      if (epilogue) apply_epilogue(*epilogue, row0 + i0, col0 + j0, rows, cols, c_tile, ldc);
    }
  }
}

/// The whole Goto algorithm on one thread, for the m x n block of C at `c`, which sits at
/// (row0, col0) of the whole output. `a` points at op(A)(0, 0) of this block, `b` at op(B)(0, 0).
template <typename T>
void gemm_serial(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                 std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
                 const GemmEpilogue<T>& epilogue, std::size_t row0, std::size_t col0,
                 const PackedB<T>* packed_b = nullptr) {
  using Blk = GemmBlocking<T>;
  GemmWorkspace<T>& ws = GemmWorkspace<T>::for_this_thread();
  const auto a_source = [&](std::size_t i0, std::size_t p0) {
    return trans_a ? a + p0 * lda + i0 : a + i0 * lda + p0;
  };

  // When all of op(A) fits in the A buffer (few rows: a conv layer's 32 or 64 output channels),
  // it is packed once here, one KC slice after another, instead of once per NC column block.
  const std::size_t m_padded = (m + Blk::mr - 1) / Blk::mr * Blk::mr;
  const bool pack_a_once = m_padded * k <= ws.a_block.size();
  if (pack_a_once)
    for (std::size_t p0 = 0; p0 < k; p0 += Blk::kc)
      pack_a_block<Blk::mr>(trans_a, m, std::min(Blk::kc, k - p0), a_source(0, p0), lda,
                            ws.a_block.data() + m_padded * p0);

  const bool b_in_place = !packed_b && !trans_b && m <= gemm_in_place_b_max_rows;
  const std::size_t nc_max = b_in_place ? Blk::nc_in_place : Blk::nc;
  for (std::size_t j0 = 0; j0 < n; j0 += nc_max) {
    const std::size_t nc = std::min(nc_max, n - j0);
    for (std::size_t p0 = 0; p0 < k; p0 += Blk::kc) {
      const std::size_t kc = std::min(Blk::kc, k - p0);
      const T* b_src = trans_b ? b + j0 * ldb + p0 : b + p0 * ldb + j0;
      BBlock<T> b_block{ws.b_block.data(), Blk::nr, Blk::nr * kc, nullptr};
      if (packed_b) {  // packed already; (col0 + j0) is a multiple of NR (see gemm's split)
        b_block.data = packed_b->block(p0, col0 + j0);
      } else if (!b_in_place) {
        pack_b_panel<Blk::nr>(trans_b, kc, nc, b_src, ldb, ws.b_block.data());
      } else {
        b_block = {b_src, ldb, Blk::nr, nullptr};
        if (p0 + kc < k) {  // the block after this one in these loops: the next k slice...
          b_block.next = b_src + kc * ldb;
          b_block.next_cols = nc;
        } else if (j0 + nc < n) {  // ... or the first slice of the next column block
          b_block.next = b + j0 + nc;
          b_block.next_cols = std::min(nc_max, n - j0 - nc);
        }
        if (const std::size_t full = nc / Blk::nr * Blk::nr; full < nc) {
          pack_b_panel<Blk::nr>(false, kc, nc - full, b_src + full, ldb, ws.b_block.data());
          b_block.ragged_panel = ws.b_block.data();
        }
      }
      const T beta_here = p0 == 0 ? beta : T(1);  // later k slices accumulate onto the first
      const GemmEpilogue<T>* epilogue_here = p0 + kc == k && !epilogue.empty() ? &epilogue : nullptr;
      for (std::size_t i0 = 0; i0 < m; i0 += Blk::mc) {
        const std::size_t mc = std::min(Blk::mc, m - i0);
        const T* a_block = ws.a_block.data() + (pack_a_once ? m_padded * p0 + i0 * kc : 0);
        if (!pack_a_once) pack_a_block<Blk::mr>(trans_a, mc, kc, a_source(i0, p0), lda, ws.a_block.data());
        macro_kernel(mc, nc, kc, a_block, b_block, alpha, beta_here, c + i0 * ldc + j0, ldc, epilogue_here,
                     row0 + i0, col0 + j0);
      }
    }
  }
}

/// C = beta * C for the degenerate products (k = 0 or alpha = 0); beta = 0 writes zeros.
template <typename T>
void scale_matrix(std::size_t m, std::size_t n, T beta, T* c, std::size_t ldc) {
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
}

}  // namespace detail

/// Products smaller than this many multiply-adds run on one thread: a parallel region costs a
/// few microseconds, which is the time of roughly this much work.
inline constexpr std::size_t gemm_parallel_threshold = 64 * 64 * 64;

/// C = alpha * op(A) * op(B) + beta * C, then the epilogue. Row-major; `lda`, `ldb`, `ldc` are the
/// strides between stored rows and may exceed the widths. When beta == 0, C is only written
/// (NaN in C does not propagate). Throws `ConfigError` if a leading dimension is too small.
template <typename T>
void gemm(Trans trans_a, Trans trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
          const GemmEpilogue<T>& epilogue = {}, const PackedB<T>* packed_b = nullptr) {
  const bool ta = trans_a == Trans::yes, tb = trans_b == Trans::yes;
  check<ConfigError>(!packed_b || (packed_b->k() == k && packed_b->n() == n && packed_b->trans() == trans_b),
                     "gemm: the packed B is not op(B) of this product (k ", k, ", n ", n, ")");
  check<ConfigError>(lda >= std::max<std::size_t>(1, ta ? m : k), "gemm: lda = ", lda, " is less than the ",
                     ta ? "m = " : "k = ", ta ? m : k, " values of a stored row of A");
  check<ConfigError>(ldb >= std::max<std::size_t>(1, tb ? k : n), "gemm: ldb = ", ldb, " is less than the ",
                     tb ? "k = " : "n = ", tb ? k : n, " values of a stored row of B");
  check<ConfigError>(ldc >= std::max<std::size_t>(1, n), "gemm: ldc = ", ldc, " is less than n = ", n);
  if (m == 0 || n == 0) return;
  // No path may depend on m where A's rows are examples: data-parallel training needs a row of C
  // to have the same bits when the GEMM holds only a process's part of the batch, down to one
  // row. (A dot-product path for m = 1, twice as fast for one example through a dense layer,
  // broke that: its sums run in another order. `packed_b` is the way to that latency: the same
  // sums, without the copy.)

  constexpr std::size_t MR = GemmBlocking<T>::mr;
  const bool trivial = k == 0 || alpha == T(0);
  const int threads = m * n * k < gemm_parallel_threshold || trivial ? 1 : num_threads();

  // Split C into `threads` bands of whole cache lines of columns, or of whole MR-row panels,
  // whichever leaves the busiest thread the least work (counted with edges padded to the sizes
  // the micro-kernels compute). Where a band boundary falls changes nothing in any element's
  // arithmetic, so the result does not depend on the number of threads.
  // With B packed, bands of columns start on a panel boundary as well (where the packed panels start).
  constexpr std::size_t cache_line = std::max<std::size_t>(1, 64 / sizeof(T));
  const std::size_t line = packed_b ? std::lcm(cache_line, GemmBlocking<T>::nr) : cache_line;
  const auto round_up = [](std::size_t x, std::size_t unit) { return (x + unit - 1) / unit * unit; };
  const auto busiest = [&](std::size_t extent, std::size_t unit) {
    return round_up((extent + unit - 1) / unit, static_cast<std::size_t>(threads)) / threads * unit;
  };
  // Few columns and a long k with both operands k-contiguous: dot products (gemm_dot.hpp), split by rows.
  const bool dot = tb && !ta && n < dot_max_columns && k >= dot_min_depth;
  const bool split_columns = !dot && busiest(n, line) * round_up(m, MR) <= busiest(m, MR) * round_up(n, line);
  const std::size_t step = split_columns ? line
                           : dot         ? detail::dot_rows_a
                                         : MR,
                    extent = split_columns ? n : m;
  const std::size_t tiles = (extent + step - 1) / step;

  auto run_part = [&](std::size_t part, std::size_t parts) {
    const std::size_t first = tiles * part / parts, last = tiles * (part + 1) / parts;
    const std::size_t begin = first * step, end = std::min(extent, last * step);
    if (begin >= end) return;
    const std::size_t i0 = split_columns ? 0 : begin, rows = split_columns ? m : end - begin;
    const std::size_t j0 = split_columns ? begin : 0, cols = split_columns ? end - begin : n;
    T* c_part = c + i0 * ldc + j0;
    if (trivial) {
      detail::scale_matrix(rows, cols, beta, c_part, ldc);
      if (!epilogue.empty()) detail::apply_epilogue(epilogue, i0, j0, rows, cols, c_part, ldc);
    } else if (dot) {
      AlignedBuffer<T>& scratch = GemmWorkspace<T>::for_this_thread().b_block;
      gemm_dot_products(rows, n, k, alpha, a + i0 * lda, lda, b, ldb, beta, c_part, ldc, scratch.data(),
                        scratch.size());
      if (!epilogue.empty()) detail::apply_epilogue(epilogue, i0, j0, rows, cols, c_part, ldc);
    } else {
      const T* a_part = ta ? a + i0 : a + i0 * lda;
      const T* b_part = tb ? b + j0 * ldb : b + j0;
      detail::gemm_serial(ta, tb, rows, cols, k, alpha, a_part, lda, b_part, ldb, beta, c_part, ldc, epilogue,
                          i0, j0, packed_b);
    }
  };

  if (threads <= 1) {
    run_part(0, 1);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
  run_part(static_cast<std::size_t>(omp_get_thread_num()), static_cast<std::size_t>(omp_get_num_threads()));
#endif
}

}  // namespace tinydl::kernels
