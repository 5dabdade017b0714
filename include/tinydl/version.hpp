#pragma once
/// @file version.hpp
/// The library version (kept equal to `project(VERSION)` in CMakeLists.txt by a test).

#define TINYDL_VERSION_MAJOR 0
#define TINYDL_VERSION_MINOR 1
#define TINYDL_VERSION_PATCH 0

namespace tinydl {
/// The version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace tinydl
