#pragma once
/// @file figures.hpp
/// The report's figures, drawn on a `Canvas`: grids of captioned images, a confusion-matrix heat
/// map, line charts (training curves) and bar charts (model comparison).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "tinydl/metrics/classification.hpp"
#include "tinydl/viz/canvas.hpp"

namespace tinydl::viz {

/// One captioned tile of an image grid: a grayscale image and up to three lines of text.
struct Tile {
  const std::uint8_t* image = nullptr;  ///< `size` x `size` bytes
  std::vector<std::string> caption;
  Color color = colors::black;  ///< caption colour
};

/// A grid of images magnified 5x with captions under each, and a title; `columns` per row.
inline Canvas image_grid(const std::vector<Tile>& tiles, int image_size, int columns,
                         const std::string& title) {
  check<ConfigError>(!tiles.empty() && columns > 0, "image_grid: no tiles");
  const int scale = 5, text = Canvas::text_height(), margin = 16;
  const int tile_w = std::max(image_size * scale, 220), lines = 3;
  const int tile_h = image_size * scale + 8 + lines * (text + 4);
  const int rows = (static_cast<int>(tiles.size()) + columns - 1) / columns;
  Canvas canvas(columns * tile_w + (columns + 1) * margin, rows * (tile_h + margin) + margin + 2 * text + 8);
  canvas.draw_text(margin, margin / 2, title, colors::black, 3);
  const int top = margin / 2 + Canvas::text_height(3) + 10;
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const int col = static_cast<int>(i) % columns, row = static_cast<int>(i) / columns;
    const int x = margin + col * (tile_w + margin), y = top + row * (tile_h + margin);
    const int image_x = x + (tile_w - image_size * scale) / 2;
    canvas.draw_gray_image(image_x, y, tiles[i].image, image_size, image_size, scale);
    canvas.draw_rect(image_x - 1, y - 1, image_size * scale + 2, image_size * scale + 2, colors::gray);
    for (std::size_t line = 0; line < tiles[i].caption.size() && line < static_cast<std::size_t>(lines);
         ++line)
      canvas.draw_text_centered(x + tile_w / 2,
                                y + image_size * scale + 8 + static_cast<int>(line) * (text + 4),
                                tiles[i].caption[line], tiles[i].color);
  }
  return canvas;
}

/// A heat map of a confusion matrix: rows are true classes, columns predicted ones; each cell
/// shows its count and is shaded by the share of its row (so each row reads as recall).
inline Canvas confusion_heatmap(const metrics::ConfusionMatrix& m,
                                const std::vector<std::string>& class_names, const std::string& title) {
  const int n = static_cast<int>(m.classes()), cell = 58, text = Canvas::text_height();
  int label_w = 0;
  for (int c = 0; c < n; ++c)
    label_w = std::max(
        label_w, Canvas::text_width(std::to_string(c) + " " + class_names.at(static_cast<std::size_t>(c))));
  const int left = label_w + 30, top = 40 + Canvas::text_height(3) + text + 12;
  const std::string note = "rows: true class; shade: share of the row (blue: correct, red: errors)";
  Canvas canvas(std::max(left + n * cell + 30, Canvas::text_width(note) + 30),
                top + n * cell + 3 * text + 40);
  canvas.draw_text(16, 10, title, colors::black, 3);
  canvas.draw_text(left, top - text - 26, "predicted class", colors::black);
  for (int t = 0; t < n; ++t) {
    const double row_total =
        static_cast<double>(std::max<std::size_t>(1, m.support(static_cast<std::size_t>(t))));
    canvas.draw_text(12, top + t * cell + (cell - text) / 2,
                     std::to_string(t) + " " + class_names.at(static_cast<std::size_t>(t)), colors::black);
    canvas.draw_text_centered(left + t * cell + cell / 2, top - text - 6, std::to_string(t), colors::black);
    for (int p = 0; p < n; ++p) {
      const std::size_t count = m.count(static_cast<std::size_t>(t), static_cast<std::size_t>(p));
      const double share = static_cast<double>(count) / row_total;
      // White to dark blue; the diagonal (correct) in blue, errors in orange-red.
      const Color full = t == p ? Color{8, 69, 148} : Color{200, 60, 20};
      const auto mix = [&](std::uint8_t to) {
        return static_cast<std::uint8_t>(
            std::lround(255 + (to - 255) * std::min(1.0, t == p ? share : 4 * share)));
      };
      const Color fill{mix(full.r), mix(full.g), mix(full.b)};
      canvas.fill_rect(left + p * cell, top + t * cell, cell, cell, fill);
      const bool dark = (fill.r + fill.g + fill.b) < 3 * 140;
      canvas.draw_text_centered(left + p * cell + cell / 2, top + t * cell + (cell - text) / 2,
                                std::to_string(count), dark ? colors::white : colors::black);
    }
  }
  for (int k = 0; k <= n; ++k) {
    canvas.draw_line(left, top + k * cell, left + n * cell, top + k * cell, colors::light_gray);
    canvas.draw_line(left + k * cell, top, left + k * cell, top + n * cell, colors::light_gray);
  }
  canvas.draw_text(12, top + n * cell + 14, note, colors::gray);
  return canvas;
}

/// One line of a chart.
struct Series {
  std::string label;
  std::vector<double> x, y;  ///< NaN y values are skipped
  Color color = colors::series[0];
  bool dashed = false;
};

namespace detail {

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` intervals over `range`.
inline double nice_step(double range, int ticks) {
  const double raw = range / ticks, power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * power >= raw) return m * power;
  return 10 * power;
}

inline std::string format_tick(double v, double step) {
  char buffer[32];
  const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

/// Horizontal grid lines from `low` to `high` every `step`, labelled on the left of `left`;
/// `to_row` maps a value to its pixel row.
template <typename ToRow>
void draw_value_grid(Canvas& canvas, int left, int right, double low, double high, double step,
                     ToRow&& to_row) {
  const int text = Canvas::text_height();
  for (double v = low; v <= high + step / 2; v += step) {
    const int row = static_cast<int>(std::lround(to_row(v)));
    canvas.draw_line(left, row, right, row, colors::light_gray);
    const std::string label = format_tick(v, step);
    canvas.draw_text(left - 8 - Canvas::text_width(label), row - text / 2, label, colors::black);
  }
}

}  // namespace detail

/// Draws a line chart with axes, ticks, labels and a legend into the rectangle (x, y, w, h).
inline void plot_lines(Canvas& canvas, int x, int y, int w, int h, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series) {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min, y_min = x_min, y_max = -x_min;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      x_min = std::min(x_min, s.x[i]);
      x_max = std::max(x_max, s.x[i]);
      y_min = std::min(y_min, s.y[i]);
      y_max = std::max(y_max, s.y[i]);
    }
  if (!std::isfinite(x_min)) x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  if (x_max == x_min) x_max = x_min + 1;
  if (y_max == y_min) y_max = y_min + 1;
  const double y_step = detail::nice_step(y_max - y_min, 5);
  y_min = std::floor(y_min / y_step) * y_step;
  y_max = std::ceil(y_max / y_step) * y_step;
  const double x_step = std::max(1.0, detail::nice_step(x_max - x_min, 8));

  const int text = Canvas::text_height();
  // Title, then the y-axis label, then the plot area.
  const int left = x + 80, right = x + w - 20, top = y + Canvas::text_height(3) + 2 * text + 30,
            bottom = y + h - 2 * text - 24;
  auto px = [&](double v) { return left + (v - x_min) / (x_max - x_min) * (right - left); };
  auto py = [&](double v) { return bottom - (v - y_min) / (y_max - y_min) * (bottom - top); };

  canvas.draw_text(x + 10, y + 6, title, colors::black, 3);
  detail::draw_value_grid(canvas, left, right, y_min, y_max, y_step, py);
  for (double v = std::ceil(x_min / x_step) * x_step; v <= x_max + 1e-9; v += x_step) {
    const int column = static_cast<int>(std::lround(px(v)));
    canvas.draw_line(column, bottom, column, bottom + 5, colors::black);
    canvas.draw_text_centered(column, bottom + 9, detail::format_tick(v, x_step), colors::black);
  }
  canvas.draw_line(left, top, left, bottom, colors::black, 2);
  canvas.draw_line(left, bottom, right, bottom, colors::black, 2);
  canvas.draw_text_centered((left + right) / 2, bottom + text + 16, x_label, colors::black);
  canvas.draw_text(x + 10, top - text - 6, y_label, colors::black);

  for (const auto& s : series) {
    bool have_previous = false;
    double previous_x = 0, previous_y = 0, phase = 0;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        have_previous = false;
        continue;
      }
      const double cx = px(s.x[i]), cy = py(s.y[i]);
      if (have_previous) {
        if (s.dashed)
          phase = canvas.draw_dashed_line(previous_x, previous_y, cx, cy, s.color, 3, 12, 8, phase);
        else
          canvas.draw_line(previous_x, previous_y, cx, cy, s.color, 3);
      }
      canvas.fill_rect(static_cast<int>(cx) - 3, static_cast<int>(cy) - 3, 7, 7, s.color);
      have_previous = true;
      previous_x = cx;
      previous_y = cy;
    }
  }
  // Legend, top right.
  int legend_w = 0;
  for (const auto& s : series) legend_w = std::max(legend_w, Canvas::text_width(s.label));
  const int legend_x = right - legend_w - 60, line_h = text + 8;
  int legend_y = top + 8;
  canvas.fill_rect(legend_x - 8, legend_y - 6, legend_w + 64, static_cast<int>(series.size()) * line_h + 8,
                   colors::white);
  canvas.draw_rect(legend_x - 8, legend_y - 6, legend_w + 64, static_cast<int>(series.size()) * line_h + 8,
                   colors::light_gray);
  for (const auto& s : series) {
    const int mid = legend_y + text / 2;
    if (s.dashed) {
      canvas.draw_line(legend_x, mid, legend_x + 12, mid, s.color, 3);
      canvas.draw_line(legend_x + 24, mid, legend_x + 36, mid, s.color, 3);
    } else {
      canvas.draw_line(legend_x, mid, legend_x + 36, mid, s.color, 3);
    }
    canvas.draw_text(legend_x + 46, legend_y, s.label, colors::black);
    legend_y += line_h;
  }
}

/// One bar of a bar chart, with an optional error bar (+- `error`).
struct Bar {
  std::string label;
  double value = 0, error = 0;
  Color color = colors::series[0];
};

/// Draws a bar chart with value labels into the rectangle (x, y, w, h); the value axis starts at
/// `floor` (e.g. 0.8 for accuracies, so differences are visible) and the floor is labelled.
inline void plot_bars(Canvas& canvas, int x, int y, int w, int h, const std::string& title,
                      const std::string& value_label, const std::vector<Bar>& bars, double floor,
                      int decimals) {
  double top_value = floor;
  for (const auto& b : bars) top_value = std::max(top_value, b.value + b.error);
  const double step = detail::nice_step(top_value - floor, 5);
  const double ceiling = std::ceil(top_value / step) * step + (top_value == floor ? step : 0);
  const int text = Canvas::text_height();
  const int left = x + 80, right = x + w - 20, top = y + Canvas::text_height(3) + 3 * text + 30,
            bottom = y + h - 2 * text - 20;
  auto py = [&](double v) { return bottom - (v - floor) / (ceiling - floor) * (bottom - top); };
  canvas.draw_text(x + 10, y + 6, title, colors::black, 3);
  detail::draw_value_grid(canvas, left, right, floor, ceiling, step, py);
  canvas.draw_text(x + 10, top - text - 8, value_label, colors::black);
  const int slot = (right - left) / std::max<int>(1, static_cast<int>(bars.size()));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const int center = left + static_cast<int>(i) * slot + slot / 2, half = std::min(60, slot / 3);
    const int bar_top = static_cast<int>(std::lround(py(std::max(floor, b.value))));
    canvas.fill_rect(center - half, bar_top, 2 * half, bottom - bar_top, b.color);
    if (b.error > 0) {
      const double hi = py(b.value + b.error), lo = py(std::max(floor, b.value - b.error));
      canvas.draw_line(center, lo, center, hi, colors::black, 2);
      canvas.draw_line(center - 10, hi, center + 10, hi, colors::black, 2);
      canvas.draw_line(center - 10, lo, center + 10, lo, colors::black, 2);
    }
    char value[32];
    std::snprintf(value, sizeof value, "%.*f", decimals, b.value);
    canvas.draw_text_centered(
        center, bar_top - text - 8 - (b.error > 0 ? static_cast<int>(bar_top - py(b.value + b.error)) : 0),
        value, colors::black);
    canvas.draw_text_centered(center, bottom + 10, b.label, colors::black);
  }
  canvas.draw_line(left, bottom, right, bottom, colors::black, 2);
}

}  // namespace tinydl::viz
