// Writes the seed corpora of the fuzzers (scripts/fuzz.sh runs it), so no binary seed is checked
// in: small valid inputs of each kind, from which libFuzzer's mutations start.
//
//   make_corpus DIR     writes DIR/idx/*, DIR/safetensors/*, DIR/model/*
#include <tinydl/tinydl.hpp>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <zlib.h>

#include "fuzz_models.hpp"

namespace {

namespace fs = std::filesystem;
using namespace tinydl;

/// An IDX file of unsigned bytes with these dimensions and data (i * 7) mod 256.
std::vector<char> idx_bytes(const std::vector<std::uint32_t>& dims) {
  std::vector<char> bytes{0, 0, 8, static_cast<char>(dims.size())};
  std::size_t count = 1;
  for (std::uint32_t d : dims) {
    count *= d;
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xFF));
  }
  for (std::size_t i = 0; i < count; ++i) bytes.push_back(static_cast<char>((i * 7) % 256));
  return bytes;
}

/// The gzip file of `bytes`, as zlib writes it.
std::vector<char> gzipped(const std::vector<char>& bytes, const fs::path& scratch) {
  gzFile file = gzopen(scratch.string().c_str(), "wb");
  if (!file) throw IoError("cannot write " + scratch.string());
  gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
  return io::read_file(scratch.string());
}

/// A harness input for fuzz_idx: the mode byte (bit 0: images, bit 1: gzip the rest), then bytes.
std::vector<char> idx_input(unsigned char mode, const std::vector<char>& bytes) {
  std::vector<char> input{static_cast<char>(mode)};
  input.insert(input.end(), bytes.begin(), bytes.end());
  return input;
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_corpus DIR\n");
    return 2;
  }
  const fs::path dir = argv[1];
  for (const char* sub : {"idx", "safetensors", "model"}) fs::create_directories(dir / sub);

  const auto labels = idx_bytes({10}), images = idx_bytes({3, 4, 4});
  io::write_file_atomically((dir / "idx" / "labels").string(), idx_input(0, labels));
  io::write_file_atomically((dir / "idx" / "images").string(), idx_input(1, images));
  io::write_file_atomically((dir / "idx" / "labels-gzip").string(), idx_input(2, labels));
  io::write_file_atomically((dir / "idx" / "images-gzip").string(), idx_input(3, images));
  // A gzip stream written as it is, for zlib's own parser.
  io::write_file_atomically((dir / "idx" / "images-raw-gzip").string(),
                            idx_input(1, gzipped(images, dir / "idx" / ".scratch.gz")));
  fs::remove(dir / "idx" / ".scratch.gz");

  const auto model = fuzz::corpus_model();
  const auto trained = fuzz::trained_corpus_model();
  for (const char* sub : {"safetensors", "model"}) {
    model.save((dir / sub / "model.safetensors").string());
    trained.save((dir / sub / "trained.safetensors").string());
    trained.save_training_state((dir / sub / "state.safetensors").string());
  }
  // Every dtype and a scalar, a zero-element tensor and metadata, for the reader alone.
  io::SafetensorsWriter writer;
  Tensor<double> f64(Shape{2, 3});
  for (std::size_t i = 0; i < f64.size(); ++i) f64[i] = 0.5 * static_cast<double>(i);
  writer.add("f64", TensorView<const double>(f64.view()));
  const std::int64_t count = 7;
  writer.add_raw("i64", io::Dtype::I64, {}, &count, sizeof count);
  const std::int32_t small[2] = {-3, 4};
  writer.add_raw("i32", io::Dtype::I32, {2}, small, sizeof small);
  const std::uint8_t bytes[3] = {1, 2, 3};
  writer.add_raw("u8", io::Dtype::U8, {3}, bytes, sizeof bytes);
  writer.add_raw("empty", io::Dtype::F32, {0}, nullptr, 0);
  writer.set_metadata("format", "pt");
  writer.write((dir / "safetensors" / "dtypes.safetensors").string());
  std::printf("make_corpus: seeds written to %s\n", dir.string().c_str());
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "make_corpus: %s\n", e.what());
  return 1;
}
