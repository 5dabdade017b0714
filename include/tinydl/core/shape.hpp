#pragma once
/// @file shape.hpp
/// `Shape`: the extents of a tensor of rank 1 to 4, images as (N, C, H, W) like PyTorch.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <ostream>
#include <string>

#include "tinydl/core/error.hpp"

namespace tinydl {

/// Extents of a row-major tensor of rank 1 to 4. Printed as `(64, 32, 28, 28)`.
class Shape {
 public:
  static constexpr std::size_t max_rank = 4;

  /// The empty shape (rank 0): the state of a default-constructed tensor.
  Shape() = default;

  /// A shape from its extents, outermost first: `Shape{64, 1, 28, 28}`.
  /// Throws `ShapeError` for a rank above 4 or an element count that overflows `size_t`.
  Shape(std::initializer_list<std::size_t> dims) {
    check<ShapeError>(dims.size() >= 1 && dims.size() <= max_rank, "Shape: rank must be 1 to ", max_rank,
                      ", got ", dims.size());
    for (std::size_t d : dims) dims_[rank_++] = d;
    (void)numel();  // validates that the product fits
  }

  /// Number of dimensions (0 for the empty shape).
  std::size_t rank() const { return rank_; }

  /// Extent of dimension `axis`; throws `ShapeError` when `axis >= rank()`.
  std::size_t operator[](std::size_t axis) const {
    // *this, not to_string(): check's arguments are evaluated on every call, and the text must
    // be built only when the check fails (no allocation in a training step).
    check<ShapeError>(axis < rank_, "Shape ", *this, ": axis ", axis, " out of range for rank ", rank_);
    return dims_[axis];
  }

  /// Product of the extents; 0 for the empty shape. Throws if it overflows `size_t`.
  std::size_t numel() const {
    if (rank_ == 0) return 0;
    std::size_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) {
      check<ShapeError>(dims_[i] == 0 || n <= std::numeric_limits<std::size_t>::max() / dims_[i],
                        "Shape: element count overflows");
      n *= dims_[i];
    }
    return n;
  }

  /// Elements in one item of the outermost dimension: numel() / shape[0] (e.g. one image).
  std::size_t item_numel() const {
    std::size_t n = 1;
    for (std::size_t i = 1; i < rank_; ++i) n *= dims_[i];
    return n;
  }

  /// The same shape with the outermost extent replaced (a batch of another size).
  Shape with_batch(std::size_t n) const {
    check<ShapeError>(rank_ >= 1, "Shape: the empty shape has no batch dimension");
    Shape s = *this;
    s.dims_[0] = n;
    (void)s.numel();
    return s;
  }

  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (std::size_t i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }
  friend bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }

  /// `(64, 32, 28, 28)`; a rank-1 shape prints as `(10)`, the empty shape as `()`.
  std::string to_string() const {
    std::string s = "(";
    for (std::size_t i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[i]);
    }
    return s + ")";
  }

  friend std::ostream& operator<<(std::ostream& out, const Shape& s) { return out << s.to_string(); }

 private:
  std::array<std::size_t, max_rank> dims_{};
  std::size_t rank_ = 0;
};

/// a * b, or the largest uint64 when that overflows: for sizes declared by a file, where an
/// overflow must read as "too large", not wrap to something small.
inline std::uint64_t saturating_multiply(std::uint64_t a, std::uint64_t b) {
  return b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b
             ? std::numeric_limits<std::uint64_t>::max()
             : a * b;
}

/// A shape printed with a batch axis of any size shown as N: `(N, 32, 26, 26)`. It formats only
/// when streamed, so it can go into a `check` message at no cost while the check passes.
struct BatchN {
  const Shape& shape;
  std::size_t first_axis;  ///< the axes printed after N: 0 for an item shape, 1 for a batch shape

  friend std::ostream& operator<<(std::ostream& out, const BatchN& b) {
    out << "(N";
    for (std::size_t i = b.first_axis; i < b.shape.rank(); ++i) out << ", " << b.shape[i];
    return out << ")";
  }
};

/// `(N, 32, 26, 26)` for the item shape (32, 26, 26).
inline BatchN batch_of_items(const Shape& item) {
  return BatchN{item, 0};
}

/// `(N, 32, 26, 26)` for the batch shape (1, 32, 26, 26): its batch extent shown as N.
inline BatchN batch_axis_as_n(const Shape& batch) {
  return BatchN{batch, 1};
}

/// The shape of a batch of `n` items of shape `item`: (C, H, W) -> (n, C, H, W).
/// Throws `ShapeError` if the result would exceed rank 4.
inline Shape prepend_batch(std::size_t n, const Shape& item) {
  switch (item.rank()) {
    case 1:
      return Shape{n, item[0]};
    case 2:
      return Shape{n, item[0], item[1]};
    case 3:
      return Shape{n, item[0], item[1], item[2]};
    default:
      throw ShapeError("prepend_batch: an item of shape " + item.to_string() +
                       " has no room for a batch axis");
  }
}

/// The shape of one item of a batch: (N, C, H, W) -> (C, H, W). Throws `ShapeError` below rank 2.
inline Shape item_shape(const Shape& batch) {
  switch (batch.rank()) {
    case 2:
      return Shape{batch[1]};
    case 3:
      return Shape{batch[1], batch[2]};
    case 4:
      return Shape{batch[1], batch[2], batch[3]};
    default:
      throw ShapeError("item_shape: " + batch.to_string() + " has no item axes after the batch axis");
  }
}

}  // namespace tinydl
