// libFuzzer harness of the IDX reader, plain and gzip. The first input byte chooses: bit 0 the
// rank read (idx1 labels or idx3 images), bit 1 whether the rest is gzipped before it is written
// (so mutations reach the IDX parser behind zlib); without it the bytes are written as they are,
// and zlib meets whatever they hold (gzip headers and streams included). Anything but a
// tinydl::Error escaping is a crash. When the bytes were gzipped here, the file's content is
// known exactly, so an accepted file must also give the declared dimensions and the stored values.
#include <tinydl/tinydl.hpp>

#include <zlib.h>

#include <algorithm>

#include "fuzz_support.hpp"

namespace {
std::size_t big_endian32(const std::uint8_t* p) {
  return std::size_t{p[0]} << 24 | std::size_t{p[1]} << 16 | std::size_t{p[2]} << 8 | p[3];
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const bool images = data[0] & 1, gzip = data[0] & 2;
  const std::string& path = fuzz::scratch_path("idx");
  if (gzip) {
    gzFile file = gzopen(path.c_str(), "wb");
    fuzz::require(file != nullptr, "gzopen for writing");
    if (size > 1) gzwrite(file, data + 1, static_cast<unsigned>(size - 1));
    gzclose(file);
  } else {
    fuzz::write_bytes(path, data + 1, size - 1);
  }
  try {
    if (images) {
      const tinydl::Tensor<std::uint8_t> x = tinydl::data::read_idx_images(path);
      fuzz::require(x.rank() == 4 && x.shape()[1] == 1, "images are (N, 1, rows, cols)");
      if (gzip) {  // the content is data + 1: a 16-byte header, then the pixels
        const std::uint8_t* idx = data + 1;
        fuzz::require(x.shape()[0] == big_endian32(idx + 4) && x.shape()[2] == big_endian32(idx + 8) &&
                          x.shape()[3] == big_endian32(idx + 12),
                      "the shape is the declared one");
        fuzz::require(size - 1 >= 16 + x.size() && std::equal(x.begin(), x.end(), idx + 16),
                      "the pixels are the stored bytes");
      }
    } else {
      const tinydl::Tensor<std::int32_t> y = tinydl::data::read_idx_labels(path);
      fuzz::require(y.rank() == 1, "labels are (N)");
      if (gzip) {  // an 8-byte header, then one byte per label
        const std::uint8_t* idx = data + 1;
        fuzz::require(y.shape()[0] == big_endian32(idx + 4), "the count is the declared one");
        fuzz::require(size - 1 >= 8 + y.size() && std::equal(y.begin(), y.end(), idx + 8),
                      "the labels are the stored bytes");
      }
    }
  } catch (const tinydl::Error&) {
  }
  return 0;
}
