#pragma once
/// @file error.hpp
/// The exceptions tinydl throws. Every user mistake and every bad file ends in one of these,
/// with a message that names the layer or file and says what was expected and what was found.

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace tinydl {

/// Base of all tinydl exceptions; catch this to handle any tinydl failure.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A tensor or layer received a shape it cannot work with.
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// A file is missing, unreadable, truncated or malformed.
class IoError : public Error {
 public:
  using Error::Error;
};

/// An option or argument is out of its valid range (a batch size of 0, a negative rate, ...).
class ConfigError : public Error {
 public:
  using Error::Error;
};

namespace detail {

/// Streams all arguments into one string: `concat("expected ", 3, " got ", 4)`.
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}

}  // namespace detail

/// Throws `E` with a message built from `args` when `condition` is false.
template <typename E = Error, typename... Args>
void check(bool condition, Args&&... args) {
  if (!condition) throw E(detail::concat(std::forward<Args>(args)...));
}

}  // namespace tinydl
