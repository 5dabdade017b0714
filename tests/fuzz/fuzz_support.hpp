#pragma once
// Shared by the libFuzzer harnesses of tests/fuzz/: the loaders take paths, so each input is
// written to a file of this process's own, and a broken invariant ends the run loudly.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace fuzz {

/// A file path for this process (libFuzzer may run jobs side by side in one directory).
inline const std::string& scratch_path(const char* name) {
  static const std::string path = "/tmp/tinydl-fuzz-" + std::to_string(::getpid()) + "-" + name;
  return path;
}

/// Writes `size` bytes to `path` (plainly: the loaders under test are the only readers).
inline void write_bytes(const std::string& path, const void* data, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) std::abort();
  if (size && std::fwrite(data, 1, size, file) != size) std::abort();
  std::fclose(file);
}

/// An invariant the harness checks: when it fails, libFuzzer saves the input as a crash.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what);
    std::abort();
  }
}

}  // namespace fuzz
