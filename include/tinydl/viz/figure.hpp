#pragma once
/// @file figure.hpp
/// `Figure`: a drawing recorded once and rendered twice — as a PNG (`save_png`, rasterised on a
/// `Canvas`) and as inline SVG for the HTML report (`svg`), so the two can never disagree. The
/// shapes are the few that charts need: filled rectangles, polylines, discs, text and magnified
/// grayscale images. Any shape may carry a tooltip: in SVG it becomes a `<title>`, which a browser
/// shows on hover without a script; the PNG ignores it.
///
/// Coordinates are in pixels from the top-left corner; pixel (i, j) spans [i, i+1) x [j, j+1) in
/// both renderings (a crisp 1-pixel line sits on a half-integer coordinate).

#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tinydl/viz/canvas.hpp"

namespace tinydl::viz {

/// `text` with &, <, >, " escaped for HTML and XML.
inline std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// `bytes` in base64 (RFC 4648, padded), as a data: URI needs it.
inline std::string base64(const std::vector<char>& bytes) {
  static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t left = bytes.size() - i;
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (left > 1) v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    if (left > 2) v |= static_cast<unsigned char>(bytes[i + 2]);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += left > 1 ? digits[(v >> 6) & 63] : '=';
    out += left > 2 ? digits[v & 63] : '=';
  }
  return out;
}

/// How a text is drawn: size in pixels per em, colour, anchor, weight, direction.
struct TextStyle {
  double size = 14;
  Color color = colors::black;
  Anchor anchor = Anchor::start;
  bool bold = false;
  bool vertical = false;  ///< reads upwards (turned 90 degrees anticlockwise about its anchor)
};

/// A recorded drawing; see the file comment.
class Figure {
 public:
  /// A `width` x `height` figure on white.
  Figure(int width, int height) : width_(width), height_(height) {
    check<ConfigError>(width > 0 && height > 0 && width <= 16384 && height <= 16384, "Figure: size ", width,
                       "x", height, " out of range");
  }

  int width() const { return width_; }
  int height() const { return height_; }

  /// A filled rectangle.
  void rect(double x, double y, double w, double h, Color fill, std::string tooltip = {}) {
    Item item{Kind::rect, fill, {{x, y}, {w, h}}, 0, 0, {}, {}, {}, 0, 0, 0, std::move(tooltip)};
    items_.push_back(std::move(item));
  }
  /// The outline of a rectangle, `line_width` pixels wide, inside its edges.
  void rect_outline(double x, double y, double w, double h, Color c, double line_width = 1) {
    const double i = line_width / 2;
    polyline({{x + i, y + i}, {x + w - i, y + i}, {x + w - i, y + h - i}, {x + i, y + h - i}, {x + i, y + i}},
             c, line_width);
  }
  /// A straight line.
  void line(double x0, double y0, double x1, double y1, Color c, double line_width = 1, double dash = 0) {
    polyline({{x0, y0}, {x1, y1}}, c, line_width, dash);
  }
  /// A polyline with round joins; dashed (`dash` on, `0.6 dash` off) when `dash` > 0.
  void polyline(std::vector<std::array<double, 2>> points, Color c, double line_width = 1, double dash = 0) {
    Item item{Kind::polyline, c, std::move(points), line_width, dash, {}, {}, {}, 0, 0, 0, {}};
    items_.push_back(std::move(item));
  }
  /// A disc of radius `r`.
  void circle(double cx, double cy, double r, Color fill, std::string tooltip = {}) {
    Item item{Kind::circle, fill, {{cx, cy}}, r, 0, {}, {}, {}, 0, 0, 0, std::move(tooltip)};
    items_.push_back(std::move(item));
  }
  /// One line of text, anchored at (x, y) on its baseline.
  void text(double x, double y, std::string text, TextStyle style = {}) {
    Item item{Kind::text, style.color, {{x, y}}, 0, 0, std::move(text), style, {}, 0, 0, 0, {}};
    items_.push_back(std::move(item));
  }
  /// A `w` x `h` grayscale image (copied), each pixel drawn as a `scale` x `scale` square.
  void image(double x, double y, const std::uint8_t* gray, int w, int h, int scale,
             std::string tooltip = {}) {
    Item item{Kind::image, colors::black,
              {{x, y}},    0,
              0,           {},
              {},          std::vector<std::uint8_t>(gray, gray + w * h),
              w,           h,
              scale,       std::move(tooltip)};
    items_.push_back(std::move(item));
  }

  /// Advance width of `text` in the figures' font (the layout's measure, in both renderings).
  static double text_width(const std::string& text, double size = 14, bool bold = false) {
    return Font::figures().width(text, size, bold);
  }

  /// A text's extent: its ink box from the font's ascent and descent and its advance width.
  struct TextBox {
    double left, top, right, bottom;
    std::string text;
  };
  /// The boxes of every text, for layout checks: labels must not overlap or leave the figure.
  std::vector<TextBox> text_boxes() const {
    std::vector<TextBox> boxes;
    const Font& font = Font::figures();
    for (const Item& item : items_) {
      if (item.kind != Kind::text) continue;
      const TextStyle& s = item.style;
      const double length = font.width(item.text, s.size, s.bold);
      const double start = s.anchor == Anchor::start ? 0 : s.anchor == Anchor::middle ? -length / 2 : -length;
      const double x = item.points[0][0], y = item.points[0][1];
      if (s.vertical)  // along runs upwards from y - start; across spans x - ascent .. x + descent
        boxes.push_back(
            {x - font.ascent(s.size), y - start - length, x + font.descent(s.size), y - start, item.text});
      else
        boxes.push_back(
            {x + start, y - font.ascent(s.size), x + start + length, y + font.descent(s.size), item.text});
    }
    return boxes;
  }

  /// The figure rasterised.
  Canvas raster() const {
    Canvas canvas(width_, height_);
    for (const Item& item : items_) {
      switch (item.kind) {
        case Kind::rect:
          fill_rect(canvas, item.points[0][0], item.points[0][1], item.points[1][0], item.points[1][1],
                    item.color);
          break;
        case Kind::polyline:
          canvas.draw_polyline(item.points, item.color, item.width, item.dash, 0.6 * item.dash);
          break;
        case Kind::circle:
          canvas.fill_circle(item.points[0][0], item.points[0][1], item.width, item.color);
          break;
        case Kind::text:
          canvas.draw_text(item.points[0][0], item.points[0][1], item.text, item.color, item.style.size,
                           item.style.anchor, item.style.bold, item.style.vertical);
          break;
        case Kind::image:
          canvas.draw_gray_image(static_cast<int>(std::lround(item.points[0][0])),
                                 static_cast<int>(std::lround(item.points[0][1])), item.pixels.data(),
                                 item.image_w, item.image_h, item.scale);
          break;
      }
    }
    return canvas;
  }

  /// Rasterises the figure and writes it as PNG, atomically. Throws `IoError` on failure.
  void save_png(const std::string& path) const { raster().save_png(path); }

  /// The figure as an `<svg>` element, self-contained (images inline as data: URIs), scaled to
  /// its container's width by the page's CSS.
  std::string svg(const std::string& label = {}) const {
    std::string out = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " + std::to_string(width_) +
                      " " + std::to_string(height_) + "\" width=\"" + std::to_string(width_) +
                      "\" height=\"" + std::to_string(height_) + "\" role=\"img\"" +
                      (label.empty() ? "" : " aria-label=\"" + html_escape(label) + "\"") +
                      " font-family=\"" + html_escape(svg_font_family) + "\">\n" +
                      "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
    for (const Item& item : items_) {
      // An element ends "/>", or holds its tooltip: "><title>...</title></tag>".
      const auto close = [&item](const char* tag) {
        return item.tooltip.empty() ? std::string("/>")
                                    : "><title>" + html_escape(item.tooltip) + "</title></" + tag + ">";
      };
      switch (item.kind) {
        case Kind::rect:
          out += "<rect x=\"" + num(item.points[0][0]) + "\" y=\"" + num(item.points[0][1]) + "\" width=\"" +
                 num(item.points[1][0]) + "\" height=\"" + num(item.points[1][1]) + "\" fill=\"" +
                 hex(item.color) + "\"" + close("rect");
          break;
        case Kind::polyline: {
          out += "<polyline fill=\"none\" stroke=\"" + hex(item.color) + "\" stroke-width=\"" +
                 num(item.width) + "\" stroke-linecap=\"round\" stroke-linejoin=\"round\"";
          if (item.dash > 0)
            out += " stroke-dasharray=\"" + num(item.dash) + " " + num(0.6 * item.dash) + "\"";
          out += " points=\"";
          for (const auto& p : item.points) out += num(p[0]) + "," + num(p[1]) + " ";
          out.back() = '"';
          out += "/>";
          break;
        }
        case Kind::circle:
          out += "<circle cx=\"" + num(item.points[0][0]) + "\" cy=\"" + num(item.points[0][1]) + "\" r=\"" +
                 num(item.width) + "\" fill=\"" + hex(item.color) + "\"" + close("circle");
          break;
        case Kind::text: {
          const TextStyle& s = item.style;
          const char* anchor = s.anchor == Anchor::start    ? "start"
                               : s.anchor == Anchor::middle ? "middle"
                                                            : "end";
          const std::string x = num(item.points[0][0]), y = num(item.points[0][1]);
          out += "<text x=\"" + x + "\" y=\"" + y + "\" font-size=\"" + num(s.size) + "\" fill=\"" +
                 hex(s.color) + "\" text-anchor=\"" + anchor + "\"" +
                 (s.bold ? " font-weight=\"bold\"" : "") +
                 (s.vertical ? " transform=\"rotate(-90 " + x + " " + y + ")\"" : "") + ">" +
                 html_escape(item.text) + "</text>";
          break;
        }
        case Kind::image: {
          Canvas tile(item.image_w, item.image_h);
          tile.draw_gray_image(0, 0, item.pixels.data(), item.image_w, item.image_h, 1);
          out += "<image x=\"" + num(item.points[0][0]) + "\" y=\"" + num(item.points[0][1]) + "\" width=\"" +
                 std::to_string(item.image_w * item.scale) + "\" height=\"" +
                 std::to_string(item.image_h * item.scale) +
                 "\" style=\"image-rendering:pixelated\" preserveAspectRatio=\"none\" "
                 "href=\"data:image/png;base64," +
                 base64(tile.png_bytes()) + "\"" + close("image");
          break;
        }
      }
      out += "\n";
    }
    return out + "</svg>";
  }

 private:
  enum class Kind { rect, polyline, circle, text, image };
  struct Item {
    Kind kind;
    Color color;
    std::vector<std::array<double, 2>> points;  // rect: origin and size; circle/text/image: anchor
    double width;                               // polyline: line width; circle: radius
    double dash;
    std::string text;
    TextStyle style;
    std::vector<std::uint8_t> pixels;
    int image_w, image_h, scale;
    std::string tooltip;
  };

  // A rectangle with anti-aliased edges: each pixel covered by the share of its area inside.
  static void fill_rect(Canvas& canvas, double x, double y, double w, double h, Color c) {
    const auto overlap = [](double lo, double hi, int cell) {
      return std::max(0.0, std::min(hi, cell + 1.0) - std::max(lo, static_cast<double>(cell)));
    };
    for (int j = static_cast<int>(std::floor(y)); j < static_cast<int>(std::ceil(y + h)); ++j)
      for (int i = static_cast<int>(std::floor(x)); i < static_cast<int>(std::ceil(x + w)); ++i)
        canvas.blend(i, j, c, overlap(x, x + w, i) * overlap(y, y + h, j));
  }

  static std::string num(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.2f", v);
    std::string s = buffer;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s == "-0" ? "0" : s;
  }
  static std::string hex(Color c) {
    char buffer[8];
    std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", c.r, c.g, c.b);
    return buffer;
  }

  int width_, height_;
  std::vector<Item> items_;
};

}  // namespace tinydl::viz
