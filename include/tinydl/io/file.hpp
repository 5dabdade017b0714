#pragma once
/// @file file.hpp
/// Whole-file reads with a size bound, and atomic writes (temporary file + rename), so that a
/// crash or a full disk never leaves a half-written model or checkpoint under the real name.

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "tinydl/core/error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#define TINYDL_HAS_FSYNC 1
#endif

namespace tinydl::io {

/// Reads the whole file at `path`. Throws `IoError` naming the file if it is missing, is not a
/// regular file, cannot be read, or is larger than `max_bytes` (checked before allocating).
inline std::vector<char> read_file(const std::string& path,
                                   std::uint64_t max_bytes = std::uint64_t{1} << 36) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  check<IoError>(!ec && fs::exists(status), path, ": no such file");
  check<IoError>(fs::is_regular_file(status), path, ": not a regular file");
  const std::uint64_t size = fs::file_size(path, ec);
  check<IoError>(!ec, path, ": cannot get the file size (", ec.message(), ")");
  check<IoError>(size <= max_bytes, path, ": ", size, " bytes is more than the limit of ", max_bytes,
                 " bytes");

  std::FILE* file = std::fopen(path.c_str(), "rb");
  check<IoError>(file != nullptr, path, ": cannot open for reading");
  std::vector<char> bytes(static_cast<std::size_t>(size));
  const std::size_t got = size ? std::fread(bytes.data(), 1, bytes.size(), file) : 0;
  std::fclose(file);
  check<IoError>(got == bytes.size(), path, ": read ", got, " of ", size, " bytes");
  return bytes;
}

namespace detail {

/// Removes the temporaries `write_file_atomically` left beside `path` when a process writing it
/// was killed: `<path>.tmp-<pid>-<n>` whose process no longer runs. A living writer's files are
/// left alone, so concurrent writers never remove each other's.
inline void remove_stale_temporaries(const std::string& path) {
#ifdef TINYDL_HAS_FSYNC
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const std::size_t dash = rest.find('-');
    if (dash == 0 || dash == std::string::npos || rest.find_first_not_of("0123456789-") != std::string::npos)
      continue;
    const long pid = std::strtol(rest.substr(0, dash).c_str(), nullptr, 10);
    std::error_code ignored;
    if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) fs::remove(it->path(), ignored);
  }
#else
  (void)path;
#endif
}

/// Makes a rename in the directory of `path` durable (the file's own fsync does not cover its
/// directory entry). Best effort: some file systems refuse to fsync a directory.
inline void sync_directory_of(const std::string& path) {
#ifdef TINYDL_HAS_FSYNC
  const std::filesystem::path target(path);
  const std::string dir = target.has_parent_path() ? target.parent_path().string() : std::string(".");
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
#else
  (void)path;
#endif
}

}  // namespace detail

/// Writes `bytes` to `path` atomically: the data goes to a temporary file in the same directory,
/// is flushed to disk, and is then renamed over `path`. Readers see the old file or the new one,
/// never a mix. Throws `IoError` (and removes the temporary file) on any failure.
inline void write_file_atomically(const std::string& path, const char* bytes, std::size_t size) {
  static std::atomic<unsigned> counter{0};  // distinct names for threads of one process
#ifdef TINYDL_HAS_FSYNC
  const std::string process = std::to_string(::getpid());  // and for processes sharing a directory
#else
  const std::string process = "0";
#endif
  detail::remove_stale_temporaries(path);  // left by writers that were killed
  const std::string temporary = path + ".tmp-" + process + "-" + std::to_string(counter++);
  std::FILE* file = std::fopen(temporary.c_str(), "wb");
  check<IoError>(file != nullptr, path, ": cannot create the temporary file ", temporary);
  bool ok = size == 0 || std::fwrite(bytes, 1, size, file) == size;
  ok = std::fflush(file) == 0 && ok;
#ifdef TINYDL_HAS_FSYNC
  ok = ::fsync(fileno(file)) == 0 && ok;
#endif
  ok = std::fclose(file) == 0 && ok;
  std::error_code ec;
  if (ok) std::filesystem::rename(temporary, path, ec);
  if (!ok || ec) {
    std::filesystem::remove(temporary, ec);
    throw IoError(
        tinydl::detail::concat(path, ": writing ", size, " bytes failed (disk full or no permission?)"));
  }
  detail::sync_directory_of(path);
}

/// `write_file_atomically` for a byte vector.
inline void write_file_atomically(const std::string& path, const std::vector<char>& bytes) {
  write_file_atomically(path, bytes.data(), bytes.size());
}

}  // namespace tinydl::io
