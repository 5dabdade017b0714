#pragma once
/// @file canvas.hpp
/// `Canvas`: an RGB image to draw figures on — rectangles, anti-aliased lines, discs and text,
/// magnified grayscale images — saved as PNG. Text is a TrueType font's (font.hpp); PNG encoding
/// is `stb_image_write`'s, Debian's `libstb-dev` header, compiled here with internal linkage
/// (STB_IMAGE_WRITE_STATIC), so no separate library is linked.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/core/error.hpp"
#include "tinydl/io/file.hpp"
#include "tinydl/viz/font.hpp"

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

/// Where a text's anchor point lies on its baseline, as SVG's `text-anchor`.
enum class Anchor { start, middle, end };

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

  /// Blends `c` over the pixel at (x, y) with opacity `alpha` (0..1); points outside are ignored.
  void blend(int x, int y, Color c, double alpha) {
    if (x < 0 || y < 0 || x >= width_ || y >= height_ || alpha <= 0) return;
    if (alpha >= 1) return set(x, y, c);
    std::uint8_t* p = &pixels_[(static_cast<std::size_t>(y) * width_ + x) * 3];
    const auto mix = [alpha](std::uint8_t under, std::uint8_t over) {
      return static_cast<std::uint8_t>(std::lround(under + alpha * (over - under)));
    };
    p[0] = mix(p[0], c.r);
    p[1] = mix(p[1], c.g);
    p[2] = mix(p[2], c.b);
  }

  /// An anti-aliased polyline `width` pixels wide with round joins and caps, dashed (`dash`
  /// pixels drawn, `gap` skipped, the pattern running on across vertices) when `dash` > 0.
  /// Coordinates are continuous: pixel (i, j) spans [i, i+1) x [j, j+1), so a 1-pixel line is
  /// crisp on a half-integer coordinate. Each pixel takes the highest coverage of any piece, so
  /// joins and overlapping dashes are not darkened twice.
  void draw_polyline(const std::vector<std::array<double, 2>>& points, Color c, double width = 1,
                     double dash = 0, double gap = 0) {
    if (points.size() < 2) return;
    std::vector<std::array<double, 4>> pieces;  // x0, y0, x1, y1
    double along = 0;
    for (std::size_t i = 1; i < points.size(); ++i) {
      const double x0 = points[i - 1][0], y0 = points[i - 1][1], x1 = points[i][0], y1 = points[i][1];
      const double length = std::hypot(x1 - x0, y1 - y0);
      if (dash <= 0 || length == 0) {
        pieces.push_back({x0, y0, x1, y1});
        continue;
      }
      // Split [along, along + length) at the pattern's period boundaries; keep the "on" parts.
      for (double t = 0; t < length;) {
        const double phase = std::fmod(along + t, dash + gap);
        const bool on = phase < dash;
        const double step = std::min(length - t, on ? dash - phase : dash + gap - phase);
        if (on) {
          const double a = t / length, b = (t + step) / length;
          pieces.push_back({x0 + a * (x1 - x0), y0 + a * (y1 - y0), x0 + b * (x1 - x0), y0 + b * (y1 - y0)});
        }
        t += step;
      }
      along += length;
    }
    double left = points[0][0], right = left, top = points[0][1], bottom = top;
    for (const auto& p : points) {
      left = std::min(left, p[0]), right = std::max(right, p[0]);
      top = std::min(top, p[1]), bottom = std::max(bottom, p[1]);
    }
    const double reach = width / 2 + 1;
    const int x_begin = std::max(0, static_cast<int>(std::floor(left - reach))),
              x_end = std::min(width_, static_cast<int>(std::ceil(right + reach)) + 1),
              y_begin = std::max(0, static_cast<int>(std::floor(top - reach))),
              y_end = std::min(height_, static_cast<int>(std::ceil(bottom + reach)) + 1);
    for (int y = y_begin; y < y_end; ++y)
      for (int x = x_begin; x < x_end; ++x) {
        // coverage of a pixel by a capsule: 1 inside, fading over one pixel at its edge
        const double px = x + 0.5, py = y + 0.5;
        double nearest = reach + 1;
        for (const auto& s : pieces) {
          const double dx = s[2] - s[0], dy = s[3] - s[1], length2 = dx * dx + dy * dy;
          const double t =
              length2 > 0 ? std::clamp(((px - s[0]) * dx + (py - s[1]) * dy) / length2, 0.0, 1.0) : 0;
          nearest = std::min(nearest, std::hypot(px - (s[0] + t * dx), py - (s[1] + t * dy)));
        }
        blend(x, y, c, std::clamp(width / 2 + 0.5 - nearest, 0.0, 1.0));
      }
  }

  /// An anti-aliased straight line `width` pixels wide (see `draw_polyline`).
  void draw_line(double x0, double y0, double x1, double y1, Color c, double width = 1) {
    draw_polyline({{x0, y0}, {x1, y1}}, c, width);
  }

  /// An anti-aliased disc of radius `r` centred on (cx, cy).
  void fill_circle(double cx, double cy, double r, Color c) {
    for (int y = static_cast<int>(std::floor(cy - r - 1)); y <= static_cast<int>(std::ceil(cy + r + 1)); ++y)
      for (int x = static_cast<int>(std::floor(cx - r - 1)); x <= static_cast<int>(std::ceil(cx + r + 1));
           ++x)
        blend(x, y, c, std::clamp(r + 0.5 - std::hypot(x + 0.5 - cx, y + 0.5 - cy), 0.0, 1.0));
  }

  /// A grayscale image (bytes, row-major) magnified `scale` times, top-left at (x, y).
  void draw_gray_image(int x, int y, const std::uint8_t* image, int w, int h, int scale) {
    for (int j = 0; j < h; ++j)
      for (int i = 0; i < w; ++i) {
        const std::uint8_t v = image[j * w + i];
        fill_rect(x + i * scale, y + j * scale, scale, scale, Color{v, v, v});
      }
  }

  /// Draws one line of `text` at `size` pixels per em with `Font::figures()`, anti-aliased. (x, y)
  /// is the baseline's start, middle or end (`anchor`); `vertical` text reads upwards, turned
  /// 90 degrees anticlockwise about (x, y), as a y-axis title.
  void draw_text(double x, double y, const std::string& text, Color c, double size = 14,
                 Anchor anchor = Anchor::start, bool bold = false, bool vertical = false) {
    const Font& font = Font::figures();
    const double shift =
        anchor == Anchor::start ? 0 : (anchor == Anchor::middle ? 0.5 : 1) * font.width(text, size, bold);
    const double pen = (vertical ? -y : x) - shift;  // along the text's direction
    const double start = std::floor(pen);
    const TextMask mask = font.render(text, size, bold, pen - start);
    for (int my = 0; my < mask.height; ++my)
      for (int mx = 0; mx < mask.width; ++mx) {
        const std::uint8_t cover = mask.coverage[static_cast<std::size_t>(my) * mask.width + mx];
        if (cover == 0) continue;
        const int along = static_cast<int>(start) + mx, across = my - mask.baseline;
        if (vertical)
          blend(static_cast<int>(std::floor(x)) + across, -along - 1, c, cover / 255.0);
        else
          blend(along, static_cast<int>(std::floor(y)) + across, c, cover / 255.0);
      }
  }

  /// The canvas encoded as PNG. Throws `IoError` if encoding fails.
  std::vector<char> png_bytes() const {
    std::vector<char> bytes;
    auto append = [](void* context, void* data, int size) {
      auto* out = static_cast<std::vector<char>*>(context);
      out->insert(out->end(), static_cast<char*>(data), static_cast<char*>(data) + size);
    };
    const int ok = stbi_write_png_to_func(append, &bytes, width_, height_, 3, pixels_.data(), width_ * 3);
    check<IoError>(ok != 0 && !bytes.empty(), "PNG encoding of a ", width_, "x", height_, " canvas failed");
    return bytes;
  }

  /// Encodes the canvas as PNG and writes it atomically. Throws `IoError` on failure.
  void save_png(const std::string& path) const { io::write_file_atomically(path, png_bytes()); }

 private:
  int width_, height_;
  std::vector<std::uint8_t> pixels_;
};

}  // namespace tinydl::viz
