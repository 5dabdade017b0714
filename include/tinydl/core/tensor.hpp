#pragma once
/// @file tensor.hpp
/// `Tensor<T>` (owning, contiguous, 64-byte aligned, row-major) and `TensorView<T>` (a pointer and
/// a shape, cheap to copy). Images are laid out (N, C, H, W), as in PyTorch.

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <type_traits>

#include "tinydl/core/aligned_buffer.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/shape.hpp"

namespace tinydl {

/// A non-owning view of contiguous row-major data with a shape. `TensorView<const T>` is the
/// read-only view; a `TensorView<T>` converts to it implicitly. The viewed memory must outlive it.
template <typename T>
class TensorView {
 public:
  using value_type = std::remove_const_t<T>;

  TensorView() = default;
  TensorView(T* data, const Shape& shape) : data_(data), shape_(shape) {}

  /// Read-only view of a mutable view.
  template <typename U, typename = std::enable_if_t<std::is_same_v<T, const U>>>
  TensorView(const TensorView<U>& other) : data_(other.data()), shape_(other.shape()) {}

  T* data() const { return data_; }
  const Shape& shape() const { return shape_; }
  std::size_t size() const { return shape_.numel(); }
  std::size_t rank() const { return shape_.rank(); }
  T* begin() const { return data_; }
  T* end() const { return data_ + size(); }

  /// Flat element access without bounds checks (for loops in kernels and layers).
  T& operator[](std::size_t i) const { return data_[i]; }

  /// Element at a full multi-index, bounds-checked: `x.at(n, c, h, w)`. Throws `ShapeError`.
  template <typename... Index>
  T& at(Index... index) const {
    static_assert(sizeof...(Index) >= 1 && sizeof...(Index) <= Shape::max_rank);
    const std::size_t idx[] = {static_cast<std::size_t>(index)...};
    check<ShapeError>(sizeof...(Index) == shape_.rank(), "TensorView::at: ", sizeof...(Index),
                      " indices for a tensor of shape ", shape_);
    std::size_t flat = 0;
    for (std::size_t i = 0; i < sizeof...(Index); ++i) {
      check<ShapeError>(idx[i] < shape_[i], "TensorView::at: index ", idx[i], " out of range on axis ", i,
                        " of shape ", shape_);
      flat = flat * shape_[i] + idx[i];
    }
    return data_[flat];
  }

  /// Items [begin, end) of the outermost dimension, e.g. a slice of a mini-batch.
  TensorView slice(std::size_t begin, std::size_t end) const {
    check<ShapeError>(shape_.rank() >= 1 && begin <= end && end <= shape_[0], "TensorView::slice: [", begin,
                      ", ", end, ") out of range for shape ", shape_);
    return TensorView(data_ + begin * shape_.item_numel(), shape_.with_batch(end - begin));
  }

  /// The same elements seen with another shape of equal element count.
  TensorView reshape(const Shape& shape) const {
    check<ShapeError>(shape.numel() == size(), "TensorView::reshape: cannot view ", shape_, " (", size(),
                      " elements) as ", shape, " (", shape.numel(), " elements)");
    return TensorView(data_, shape);
  }

 private:
  T* data_ = nullptr;
  Shape shape_;
};

/// An owning, contiguous, 64-byte-aligned tensor of rank 1 to 4. Copies are deep.
template <typename T>
class Tensor {
  static_assert(std::is_arithmetic_v<T>, "Tensor<T> holds arithmetic types");

 public:
  Tensor() = default;

  /// A tensor of the given shape, filled with zeros.
  explicit Tensor(const Shape& shape) : buffer_(shape.numel()), shape_(shape) {}

  /// A tensor of the given shape, filled with `value`.
  Tensor(const Shape& shape, T value) : Tensor(shape) { fill(value); }

  /// A tensor of the given shape holding `values` in row-major order (count must match).
  Tensor(const Shape& shape, std::initializer_list<T> values) : Tensor(shape) {
    check<ShapeError>(values.size() == shape.numel(), "Tensor: ", values.size(), " values given for shape ",
                      shape, " (", shape.numel(), " elements)");
    std::copy(values.begin(), values.end(), data());
  }

  T* data() { return buffer_.data(); }
  const T* data() const { return buffer_.data(); }
  const Shape& shape() const { return shape_; }
  std::size_t size() const { return buffer_.size(); }
  std::size_t rank() const { return shape_.rank(); }
  T* begin() { return data(); }
  T* end() { return data() + size(); }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size(); }

  T& operator[](std::size_t i) { return buffer_.data()[i]; }
  const T& operator[](std::size_t i) const { return buffer_.data()[i]; }

  /// Bounds-checked element access by full multi-index.
  template <typename... Index>
  T& at(Index... index) {
    return view().at(index...);
  }
  template <typename... Index>
  const T& at(Index... index) const {
    return view().at(index...);
  }

  TensorView<T> view() { return TensorView<T>(data(), shape_); }
  TensorView<const T> view() const { return TensorView<const T>(data(), shape_); }
  operator TensorView<T>() { return view(); }
  operator TensorView<const T>() const { return view(); }

  /// Items [begin, end) of the outermost dimension, as a view.
  TensorView<T> slice(std::size_t begin, std::size_t end) { return view().slice(begin, end); }
  TensorView<const T> slice(std::size_t begin, std::size_t end) const { return view().slice(begin, end); }

  /// Changes the shape in place; the element count must not change.
  void reshape(const Shape& shape) {
    check<ShapeError>(shape.numel() == size(), "Tensor::reshape: cannot reshape ", shape_, " (", size(),
                      " elements) to ", shape, " (", shape.numel(), " elements)");
    shape_ = shape;
  }

  void fill(T value) { std::fill(begin(), end(), value); }

 private:
  AlignedBuffer<T> buffer_;
  Shape shape_;
};

}  // namespace tinydl
