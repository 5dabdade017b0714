#pragma once
/// @file idx.hpp
/// The IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), plain or gzip:
///
///     bytes 0-1   zero                      byte 2   element type (0x08: unsigned byte)
///     byte 3      number of dimensions d     then d big-endian 32-bit sizes, then the data
///
/// idx1 files hold labels (d = 1), idx3 files images (d = 3: count, rows, columns). The reader
/// checks the magic number, the rank, that the declared sizes are sane, and that the data is
/// exactly as long as declared (no truncation, no trailing bytes). Errors are `IoError`s naming
/// the file and the byte offset.
///
/// Memory follows the file, not its header: the data is read in chunks as it arrives (a 16-byte
/// file declaring 1 GiB fails after reading 16 bytes, where it used to zero 1 GiB first), and a
/// gzip file may not inflate to more than `idx_max_inflation` times its own size plus 1 MiB (a
/// 1 MB gzip bomb used to take 5 GB). Files are read through zlib's gzread, which reads gzip and
/// plain files alike.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include <zlib.h>

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"

namespace tinydl::data {

/// An IDX array: its dimensions and its unsigned bytes, row-major.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> values;
};

/// The largest element count accepted (1 GiB of bytes): well above any dataset this format holds,
/// far below what would exhaust memory on a bad header.
inline constexpr std::uint64_t idx_max_elements = std::uint64_t{1} << 30;

/// The most a gzip file may inflate: this many times its size, plus 1 MiB. Real IDX files
/// compress 2-5x (Fashion-MNIST's images 1.8x); zlib's own limit is about 1032x.
inline constexpr std::uint64_t idx_max_inflation = 64;

namespace detail {

/// A gzread-based reader that remembers its position, for error messages.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path), file_(gzopen(path.c_str(), "rb")) {
    check<IoError>(file_ != nullptr, path, ": cannot open (missing file?)");
    std::error_code error;
    const std::uintmax_t bytes = std::filesystem::file_size(path, error);
    file_bytes_ = error ? 0 : static_cast<std::uint64_t>(bytes);
  }
  ~IdxStream() {
    if (file_) gzclose(file_);
  }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  /// Reads up to n bytes; returns how many were read. Throws on a decompression error.
  std::size_t read(void* out, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
      const int got = gzread(file_, static_cast<char*>(out) + done, chunk);
      if (got < 0) {
        int code = 0;
        const char* message = gzerror(file_, &code);
        throw IoError(tinydl::detail::concat(path_, ": byte ", offset_ + done, ": cannot decompress (",
                                             message ? message : "zlib error", "); corrupt gzip file?"));
      }
      if (got == 0) break;
      done += static_cast<std::size_t>(got);
    }
    offset_ += done;
    // gzdirect is 1 for a plain file, whose bytes are its size; only inflation can outgrow it.
    if (!gzdirect(file_) && file_bytes_ > 0 && offset_ > idx_max_inflation * file_bytes_ + (1u << 20))
      throw IoError(tinydl::detail::concat(path_, ": inflates to more than ", idx_max_inflation,
                                           " times its ", file_bytes_, " bytes plus 1 MiB (a gzip bomb?)"));
    return done;
  }

  /// Reads exactly n bytes or throws an `IoError` saying what was being read.
  void read_exactly(void* out, std::size_t n, const char* what) {
    const std::uint64_t at = offset_;
    const std::size_t got = read(out, n);
    check<IoError>(got == n, path_, ": byte ", at, ": truncated: expected ", n, " bytes of ", what,
                   ", found ", got);
  }

  std::uint64_t offset() const { return offset_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  gzFile file_;
  std::uint64_t offset_ = 0;
  std::uint64_t file_bytes_ = 0;  // the size on disk (0 if unknown: then no inflation bound)
};

}  // namespace detail

/// Reads an IDX file of unsigned bytes with `rank` dimensions. Throws `IoError` on any problem.
inline IdxArray read_idx(const std::string& path, std::size_t rank) {
  detail::IdxStream in(path);
  unsigned char magic[4];
  in.read_exactly(magic, 4, "the magic number");
  check<IoError>(magic[0] == 0 && magic[1] == 0, path, ": byte 0: not an IDX file (magic starts ",
                 static_cast<int>(magic[0]), " ", static_cast<int>(magic[1]), ", expected 0 0)");
  check<IoError>(magic[2] == 0x08, path, ": byte 2: element type 0x", std::hex, static_cast<int>(magic[2]),
                 std::dec, " is not unsigned byte (0x08)");
  check<IoError>(magic[3] == rank, path, ": byte 3: expected ", rank, " dimension", rank == 1 ? "" : "s",
                 " (idx", rank, "), found ", static_cast<int>(magic[3]));

  IdxArray array;
  std::uint64_t count = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    unsigned char b[4];
    const std::uint64_t at = in.offset();
    in.read_exactly(b, 4, "a dimension size");
    const std::uint64_t size =
        std::uint64_t{b[0]} << 24 | std::uint64_t{b[1]} << 16 | std::uint64_t{b[2]} << 8 | b[3];
    check<IoError>(size > 0, path, ": byte ", at, ": dimension ", d, " has size 0");
    count *= size;
    check<IoError>(count <= idx_max_elements, path, ": byte ", at, ": declared sizes give more than ",
                   idx_max_elements, " elements; refusing to allocate (corrupt header?)");
    array.dims.push_back(static_cast<std::size_t>(size));
  }
  const std::uint64_t data_start = in.offset();
  // In chunks as the data arrives: the header alone never decides how much is allocated.
  constexpr std::size_t chunk = std::size_t{1} << 20;
  while (array.values.size() < count) {
    const std::size_t before = array.values.size();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, count - before));
    array.values.resize(before + want);
    const std::size_t read = in.read(array.values.data() + before, want);
    array.values.resize(before + read);
    if (read < want) break;
  }
  const std::size_t got = array.values.size();
  check<IoError>(got == count, path, ": byte ", data_start + got, ": truncated: the header declares ", count,
                 " bytes of data, the file has ", got);
  unsigned char extra;
  check<IoError>(in.read(&extra, 1) == 0, path, ": byte ", data_start + count,
                 ": trailing bytes after the declared data (wrong header?)");
  return array;
}

/// Images from an idx3 file as a (N, 1, rows, cols) uint8 tensor.
inline Tensor<std::uint8_t> read_idx_images(const std::string& path) {
  IdxArray a = read_idx(path, 3);
  Tensor<std::uint8_t> images(Shape{a.dims[0], 1, a.dims[1], a.dims[2]});
  std::copy(a.values.begin(), a.values.end(), images.begin());
  return images;
}

/// Labels from an idx1 file as an (N) int32 tensor.
inline Tensor<std::int32_t> read_idx_labels(const std::string& path) {
  IdxArray a = read_idx(path, 1);
  Tensor<std::int32_t> labels(Shape{a.dims[0]});
  std::copy(a.values.begin(), a.values.end(), labels.begin());
  return labels;
}

}  // namespace tinydl::data
