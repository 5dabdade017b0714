#pragma once
/// @file canvas.hpp
/// `Canvas`: an RGB image to draw figures on — rectangles, lines, magnified grayscale images and
/// text — saved as PNG. Text comes from `stb_easy_font` (a vector bitmap font, about 7 pixels
/// tall at scale 1; figures use scale 2 so labels read at 100% zoom); PNG encoding from
/// `stb_image_write`. Both are Debian's `libstb-dev` headers; their code is compiled here with
/// internal linkage (STB_IMAGE_WRITE_STATIC), so no separate library is linked.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/io/file.hpp"

#ifndef STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define TINYDL_DEFINED_STB_IMAGE_WRITE
#endif
#include <stb/stb_image_write.h>
#ifdef TINYDL_DEFINED_STB_IMAGE_WRITE
#undef STB_IMAGE_WRITE_IMPLEMENTATION
#undef TINYDL_DEFINED_STB_IMAGE_WRITE
#endif
#include <stb/stb_easy_font.h>

namespace tinydl::viz {

/// An 8-bit RGB colour.
struct Color {
  std::uint8_t r = 0, g = 0, b = 0;
};

namespace colors {
inline constexpr Color white{255, 255, 255}, black{0, 0, 0}, gray{128, 128, 128}, light_gray{225, 225, 225};
inline constexpr Color green{0, 140, 60}, red{200, 30, 30};
/// A palette for series (colour-blind friendly, after Okabe & Ito).
inline constexpr Color series[] = {{0, 114, 178},   {213, 94, 0},  {0, 158, 115},
                                   {204, 121, 167}, {230, 159, 0}, {86, 180, 233}};
}  // namespace colors

/// A width x height RGB image, row-major from the top-left corner.
class Canvas {
 public:
  Canvas(int width, int height, Color background = colors::white) : width_(width), height_(height) {
    check<ConfigError>(width > 0 && height > 0 && width <= 16384 && height <= 16384, "Canvas: size ", width,
                       "x", height, " out of range");
    pixels_.resize(static_cast<std::size_t>(width) * height * 3);
    fill_rect(0, 0, width, height, background);
  }

  int width() const { return width_; }
  int height() const { return height_; }
  const std::vector<std::uint8_t>& pixels() const { return pixels_; }

  /// The colour at (x, y); throws `ConfigError` outside the canvas.
  Color at(int x, int y) const {
    check<ConfigError>(x >= 0 && y >= 0 && x < width_ && y < height_, "Canvas::at: (", x, ", ", y,
                       ") outside");
    const std::uint8_t* p = &pixels_[(static_cast<std::size_t>(y) * width_ + x) * 3];
    return {p[0], p[1], p[2]};
  }

  /// Sets one pixel; points outside the canvas are ignored (clipping).
  void set(int x, int y, Color c) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
    std::uint8_t* p = &pixels_[(static_cast<std::size_t>(y) * width_ + x) * 3];
    p[0] = c.r;
    p[1] = c.g;
    p[2] = c.b;
  }

  void fill_rect(int x, int y, int w, int h, Color c) {
    for (int j = std::max(0, y); j < std::min(height_, y + h); ++j)
      for (int i = std::max(0, x); i < std::min(width_, x + w); ++i) set(i, j, c);
  }

  void draw_rect(int x, int y, int w, int h, Color c, int thickness = 1) {
    fill_rect(x, y, w, thickness, c);
    fill_rect(x, y + h - thickness, w, thickness, c);
    fill_rect(x, y, thickness, h, c);
    fill_rect(x + w - thickness, y, thickness, h, c);
  }

  /// A straight line of the given thickness (a square brush stepped along the line).
  void draw_line(double x0, double y0, double x1, double y1, Color c, int thickness = 1) {
    const double steps = std::max({std::abs(x1 - x0), std::abs(y1 - y0), 1.0});
    for (int s = 0; s <= static_cast<int>(steps); ++s) {
      const double t = s / steps;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))) - thickness / 2;
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0))) - thickness / 2;
      fill_rect(x, y, thickness, thickness, c);
    }
  }

  /// A dashed line: `dash` pixels drawn, `gap` pixels skipped, starting `phase` pixels into the
  /// pattern; returns the phase at the end, so a polyline's dashes continue across its segments.
  double draw_dashed_line(double x0, double y0, double x1, double y1, Color c, int thickness = 1,
                          double dash = 12, double gap = 8, double phase = 0) {
    const double length = std::hypot(x1 - x0, y1 - y0);
    const int steps = std::max(1, static_cast<int>(std::ceil(length)));
    for (int s = 0; s <= steps; ++s) {
      const double t = static_cast<double>(s) / steps;
      if (std::fmod(phase + t * length, dash + gap) >= dash) continue;
      const int x = static_cast<int>(std::lround(x0 + t * (x1 - x0))) - thickness / 2;
      const int y = static_cast<int>(std::lround(y0 + t * (y1 - y0))) - thickness / 2;
      fill_rect(x, y, thickness, thickness, c);
    }
    return std::fmod(phase + length, dash + gap);
  }

  /// A grayscale image (bytes, row-major) magnified `scale` times, top-left at (x, y).
  void draw_gray_image(int x, int y, const std::uint8_t* image, int w, int h, int scale) {
    for (int j = 0; j < h; ++j)
      for (int i = 0; i < w; ++i) {
        const std::uint8_t v = image[j * w + i];
        fill_rect(x + i * scale, y + j * scale, scale, scale, Color{v, v, v});
      }
  }

  /// Width and height in pixels of `text` drawn at `scale`.
  static int text_width(const std::string& text, int scale = 2) {
    std::string copy = text;
    return stb_easy_font_width(copy.data()) * scale;
  }
  static int text_height(int scale = 2) { return 7 * scale; }

  /// Draws `text` (ASCII) with its top-left corner at (x, y), each font pixel `scale` pixels.
  void draw_text(int x, int y, const std::string& text, Color c, int scale = 2) {
    std::string copy = text;
    std::vector<float> quads(copy.size() * 300 + 64);  // ~270 bytes per character, in floats
    const int count = stb_easy_font_print(0, 0, copy.data(), nullptr, quads.data(),
                                          static_cast<int>(quads.size() * sizeof(float)));
    for (int q = 0; q < count; ++q) {
      const float* v = quads.data() + q * 16;  // 4 vertices of (x, y, z, rgba) = 4 floats each
      const float left = std::min({v[0], v[4], v[8], v[12]}), right = std::max({v[0], v[4], v[8], v[12]});
      const float top = std::min({v[1], v[5], v[9], v[13]}), bottom = std::max({v[1], v[5], v[9], v[13]});
      fill_rect(x + static_cast<int>(left * scale), y + static_cast<int>(top * scale),
                static_cast<int>((right - left) * scale), static_cast<int>((bottom - top) * scale), c);
    }
  }

  /// Text centred horizontally on `center_x`.
  void draw_text_centered(int center_x, int y, const std::string& text, Color c, int scale = 2) {
    draw_text(center_x - text_width(text, scale) / 2, y, text, c, scale);
  }

  /// Encodes the canvas as PNG and writes it atomically. Throws `IoError` on failure.
  void save_png(const std::string& path) const {
    std::vector<char> bytes;
    auto append = [](void* context, void* data, int size) {
      auto* out = static_cast<std::vector<char>*>(context);
      out->insert(out->end(), static_cast<char*>(data), static_cast<char*>(data) + size);
    };
    const int ok = stbi_write_png_to_func(append, &bytes, width_, height_, 3, pixels_.data(), width_ * 3);
    check<IoError>(ok != 0 && !bytes.empty(), path, ": PNG encoding failed");
    io::write_file_atomically(path, bytes);
  }

 private:
  int width_, height_;
  std::vector<std::uint8_t> pixels_;
};

}  // namespace tinydl::viz
