// libFuzzer harness of the IDX reader, plain and gzip. The first input byte chooses: bit 0 the
// rank read (idx1 labels or idx3 images), bit 1 whether the rest is gzipped before it is written
// (so mutations reach the IDX parser behind zlib); without it the bytes are written as they are,
// and zlib meets whatever they hold (gzip headers and streams included). Anything but a
// tinydl::Error escaping is a crash.
#include <tinydl/tinydl.hpp>

#include <zlib.h>

#include "fuzz_support.hpp"

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
    } else {
      const tinydl::Tensor<std::int32_t> y = tinydl::data::read_idx_labels(path);
      fuzz::require(y.rank() == 1, "labels are (N)");
    }
  } catch (const tinydl::Error&) {
  }
  return 0;
}
