#pragma once
/// @file aligned_buffer.hpp
/// `AlignedBuffer<T>`: owning storage aligned to a cache line, so SIMD kernels can use aligned
/// loads on the start of every tensor and no two tensors share a cache line.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <new>
#include <utility>

#include "tinydl/core/error.hpp"

namespace tinydl {

/// Alignment in bytes of every tensor and workspace allocation: one cache line, one AVX-512 vector.
inline constexpr std::size_t tensor_alignment = 64;

/// A fixed-size, value-initialised array of `T` whose first element is 64-byte aligned.
/// Copying copies the elements; moving steals the storage.
template <typename T>
class AlignedBuffer {
 public:
  AlignedBuffer() = default;

  /// `n` elements, all set to `T{}` (zero for arithmetic types).
  explicit AlignedBuffer(std::size_t n) : data_(allocate(n)), size_(n) { std::fill(data_, data_ + n, T{}); }

  AlignedBuffer(const AlignedBuffer& other) : data_(allocate(other.size_)), size_(other.size_) {
    std::copy(other.data_, other.data_ + size_, data_);
  }
  AlignedBuffer(AlignedBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer other) noexcept {
    swap(other);
    return *this;
  }
  ~AlignedBuffer() { release(data_); }

  void swap(AlignedBuffer& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  static T* allocate(std::size_t n) {
    if (n == 0) return nullptr;
    check<ConfigError>(n <= std::numeric_limits<std::size_t>::max() / sizeof(T), "AlignedBuffer: ", n,
                       " elements overflow the address space");
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{tensor_alignment}));
  }
  static void release(T* p) {
    if (p) ::operator delete (p, std::align_val_t{tensor_alignment});
  }

  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tinydl
