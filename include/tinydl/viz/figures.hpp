#pragma once
/// @file figures.hpp
/// The report's figures, recorded as `Figure`s (PNG and SVG from one drawing): grids of captioned
/// images, a confusion-matrix heat map, line charts (training curves) and bar charts (model
/// comparison). Every data mark carries a tooltip with its exact value, which the SVG shows on
/// hover. Layout is measured with the figures' font, so labels neither overlap nor leave the
/// figure: axis titles sit beside their tick labels, legends above the plot area, end markers
/// inside it.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "tinydl/metrics/classification.hpp"
#include "tinydl/viz/figure.hpp"

namespace tinydl::viz {

/// Font sizes of the figures, pixels per em.
namespace text_size {
inline constexpr double title = 18, label = 14, tick = 13;
}

/// One captioned tile of an image grid: a grayscale image, up to three lines of text under it,
/// and a tooltip.
struct Tile {
  const std::uint8_t* image = nullptr;  ///< `size` x `size` bytes
  std::vector<std::string> caption;
  Color color = colors::black;  ///< caption colour
  std::string tooltip;
};

/// A grid of images magnified 5x with captions under each, and a title; `columns` per row.
inline Figure image_grid(const std::vector<Tile>& tiles, int image_size, int columns,
                         const std::string& title) {
  check<ConfigError>(!tiles.empty() && columns > 0, "image_grid: no tiles");
  const int scale = 5, margin = 16, line_h = 18, lines = 3;
  double widest = 0;
  for (const Tile& t : tiles)
    for (const auto& line : t.caption) widest = std::max(widest, Figure::text_width(line, text_size::tick));
  const int tile_w = std::max(image_size * scale, static_cast<int>(std::ceil(widest)) + 8);
  const int tile_h = image_size * scale + 6 + lines * line_h;
  const int rows = (static_cast<int>(tiles.size()) + columns - 1) / columns, top = 40;
  const int width =
      std::max(columns * tile_w + (columns + 1) * margin,
               static_cast<int>(Figure::text_width(title, text_size::title, true)) + 2 * margin);
  Figure figure(width, top + rows * (tile_h + margin));
  figure.text(margin, 26, title, {text_size::title, colors::black, Anchor::start, true});
  for (std::size_t i = 0; i < tiles.size(); ++i) {
    const int col = static_cast<int>(i) % columns, row = static_cast<int>(i) / columns;
    const int x = margin + col * (tile_w + margin), y = top + row * (tile_h + margin);
    const int image_x = x + (tile_w - image_size * scale) / 2;
    figure.rect_outline(image_x - 1, y - 1, image_size * scale + 2, image_size * scale + 2, colors::gray);
    figure.image(image_x, y, tiles[i].image, image_size, image_size, scale, tiles[i].tooltip);
    for (std::size_t line = 0; line < tiles[i].caption.size() && line < static_cast<std::size_t>(lines);
         ++line)
      figure.text(x + tile_w / 2.0, y + image_size * scale + 4 + static_cast<double>(line + 1) * line_h - 4,
                  tiles[i].caption[line], {text_size::tick, tiles[i].color, Anchor::middle});
  }
  return figure;
}

/// A heat map of a confusion matrix: rows are true classes, columns predicted ones, both named;
/// each cell shows its count and is shaded by the share of its row (so the diagonal reads as
/// recall); hovering a cell gives its count and share.
inline Figure confusion_heatmap(const metrics::ConfusionMatrix& m,
                                const std::vector<std::string>& class_names, const std::string& title) {
  const int n = static_cast<int>(m.classes()), cell = 54;
  check<ConfigError>(class_names.size() == m.classes(), "confusion_heatmap: ", class_names.size(),
                     " names for ", n, " classes");
  double label_w = 0;
  for (const auto& name : class_names)
    label_w = std::max(label_w, Figure::text_width(name, text_size::label));
  const double left = 16 + 24 + label_w + 10;  // the rows' axis title, the names, a gap
  const double top = 40 + 24 + label_w + 10;   // the title, the columns' axis title, the names
  const std::string note = "shade: share of the true class's test images (blue: correct, red: errors)";
  const int width =
      static_cast<int>(std::max({left + n * cell + 16, Figure::text_width(note, text_size::tick) + 32,
                                 Figure::text_width(title, text_size::title, true) + 32}));
  Figure figure(width, static_cast<int>(top + n * cell + 44));
  figure.text(16, 26, title, {text_size::title, colors::black, Anchor::start, true});
  figure.text(left + n * cell / 2.0, 58, "predicted class",
              {text_size::label, colors::black, Anchor::middle, true});
  figure.text(30, top + n * cell / 2.0, "true class",
              {text_size::label, colors::black, Anchor::middle, true, true});
  for (int t = 0; t < n; ++t) {
    const auto tu = static_cast<std::size_t>(t);
    const double row_total = static_cast<double>(std::max<std::size_t>(1, m.support(tu)));
    figure.text(left - 8, top + t * cell + cell / 2.0 + 5, class_names[tu],
                {text_size::label, colors::black, Anchor::end});
    figure.text(left + t * cell + cell / 2.0 + 5, top - 8, class_names[tu],
                {text_size::label, colors::black, Anchor::start, false, true});
    for (int p = 0; p < n; ++p) {
      const auto pu = static_cast<std::size_t>(p);
      const std::size_t count = m.count(tu, pu);
      const double share = static_cast<double>(count) / row_total;
      // White to dark blue on the diagonal (correct), to orange-red off it (errors, 4x as dark).
      const Color full = t == p ? Color{8, 69, 148} : Color{200, 60, 20};
      const double strength = std::min(1.0, t == p ? share : 4 * share);
      const auto mix = [&](std::uint8_t to) {
        return static_cast<std::uint8_t>(std::lround(255 + (to - 255) * strength));
      };
      const Color fill{mix(full.r), mix(full.g), mix(full.b)};
      char tip[256];
      std::snprintf(tip, sizeof tip, "true %s, predicted %s: %zu of %zu (%.1f%%)", class_names[tu].c_str(),
                    class_names[pu].c_str(), count, m.support(tu), 100 * share);
      figure.rect(left + p * cell, top + t * cell, cell, cell, fill, tip);
      const bool dark = (fill.r + fill.g + fill.b) < 3 * 140;
      figure.text(left + p * cell + cell / 2.0, top + t * cell + cell / 2.0 + 5, std::to_string(count),
                  {text_size::tick, dark ? colors::white : colors::black, Anchor::middle});
    }
  }
  for (int k = 0; k <= n; ++k) {
    figure.line(left, top + k * cell, left + n * cell, top + k * cell, colors::light_gray);
    figure.line(left + k * cell, top, left + k * cell, top + n * cell, colors::light_gray);
  }
  figure.text(16, top + n * cell + 30, note, {text_size::tick, colors::gray});
  return figure;
}

/// One line of a chart.
struct Series {
  std::string label;
  std::vector<double> x, y;  ///< NaN y values are skipped
  Color color = colors::series[0];
  bool dashed = false;
};

/// A labelled vertical line across a chart (e.g. the epoch whose weights were kept).
struct VerticalMark {
  double x = 0;
  std::string label;
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
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, std::abs(v) < step / 1e6 ? 0.0 : v);
  return buffer;
}

inline std::string format_value(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.4g", v);
  return buffer;
}

/// The widest tick label of the ticks from `low` to `high` every `step`.
inline double tick_label_width(double low, double high, double step) {
  double widest = 0;
  for (double v = low; v <= high + step / 2; v += step)
    widest = std::max(widest, Figure::text_width(format_tick(v, step), text_size::tick));
  return widest;
}

/// The frame of a chart in the rectangle (x, y, w, h): title, y-axis title (vertical, left of the
/// tick labels), horizontal grid lines with tick labels from `low` to `high` every `step`, x-axis
/// title under the plot area. Returns the plot area {left, top, right, bottom}; `legend_rows`
/// rows are kept free for a legend between the title and the plot area.
inline std::array<double, 4> chart_frame(Figure& f, double x, double y, double w, double h,
                                         const std::string& title, const std::string& x_label,
                                         const std::string& y_label, double low, double high, double step,
                                         int legend_rows) {
  const double left = x + 16 + 20 + tick_label_width(low, high, step) + 10, right = x + w - 16;
  const double top = y + 44 + legend_rows * 22 + 10, bottom = y + h - (x_label.empty() ? 30 : 52);
  f.text(x + 12, y + 26, title, {text_size::title, colors::black, Anchor::start, true});
  f.text(x + 16 + 14, (top + bottom) / 2, y_label,
         {text_size::label, colors::black, Anchor::middle, false, true});
  if (!x_label.empty())
    f.text((left + right) / 2, bottom + 44, x_label, {text_size::label, colors::black, Anchor::middle});
  for (double v = low; v <= high + step / 2; v += step) {
    const double row = std::floor(bottom - (v - low) / (high - low) * (bottom - top)) + 0.5;
    f.line(left, row, right, row, colors::light_gray);
    f.text(left - 8, row + 4.5, format_tick(v, step), {text_size::tick, colors::black, Anchor::end});
  }
  return {left, top, right, bottom};
}

}  // namespace detail

/// Draws a line chart with axes, ticks, titles and a legend into the rectangle (x, y, w, h) of
/// `figure`. Points carry tooltips ("validation, epoch 7: 0.2931"); `marks` draws labelled
/// vertical lines. The x range is inset so markers at its ends stay whole.
inline void plot_lines(Figure& figure, double x, double y, double w, double h, const std::string& title,
                       const std::string& x_label, const std::string& y_label,
                       const std::vector<Series>& series, const std::vector<VerticalMark>& marks = {}) {
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

  // The legend: one row of swatches above the plot area, wrapped when it is wider.
  struct Entry {
    double x, row;
  };
  std::vector<Entry> legend;
  double pen = 0;
  int row = 0;
  const double legend_w = w - 60;
  for (const auto& s : series) {
    const double item_w = 34 + Figure::text_width(s.label, text_size::label) + 22;
    if (pen > 0 && pen + item_w > legend_w) pen = 0, ++row;
    legend.push_back({pen, static_cast<double>(row)});
    pen += item_w;
  }
  // (plain variables, not a structured binding: C++17 lambdas cannot capture those)
  const std::array<double, 4> area = detail::chart_frame(figure, x, y, w, h, title, x_label, y_label, y_min,
                                                         y_max, y_step, series.empty() ? 0 : row + 1);
  const double left = area[0], top = area[1], right = area[2], bottom = area[3];
  const double inset = 14;
  auto px = [&](double v) {
    return left + inset + (v - x_min) / (x_max - x_min) * (right - left - 2 * inset);
  };
  auto py = [&](double v) { return bottom - (v - y_min) / (y_max - y_min) * (bottom - top); };
  for (std::size_t i = 0; i < series.size(); ++i) {
    const double lx = left + legend[i].x, ly = y + 44 + legend[i].row * 22 + 8;
    figure.line(lx, ly - 4.5, lx + 28, ly - 4.5, series[i].color, 3, series[i].dashed ? 8 : 0);
    figure.text(lx + 34, ly, series[i].label, {text_size::label});
  }
  for (double v = std::ceil(x_min / x_step) * x_step; v <= x_max + 1e-9; v += x_step) {
    const double column = std::floor(px(v)) + 0.5;
    figure.line(column, bottom, column, bottom + 5, colors::black);
    figure.text(column, bottom + 20, detail::format_tick(v, x_step),
                {text_size::tick, colors::black, Anchor::middle});
  }
  for (const auto& mark : marks) {
    const double column = std::floor(px(mark.x)) + 0.5;
    figure.line(column, top, column, bottom, colors::gray, 1.5, 5);
    const bool fits_right = column + 5 + Figure::text_width(mark.label, text_size::tick) <= right;
    figure.text(fits_right ? column + 5 : column - 5, top + 14, mark.label,
                {text_size::tick, colors::gray, fits_right ? Anchor::start : Anchor::end});
  }
  figure.line(left, top, left, bottom, colors::black, 2);
  figure.line(left, bottom, right, bottom, colors::black, 2);
  for (const auto& s : series) {
    std::vector<std::array<double, 2>> run;  // a stretch of finite values
    const auto flush = [&] {
      if (run.size() > 1) figure.polyline(run, s.color, 2.5, s.dashed ? 10 : 0);
      run.clear();
    };
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        flush();
        continue;
      }
      run.push_back({px(s.x[i]), py(s.y[i])});
    }
    flush();
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.y[i]))
        figure.circle(px(s.x[i]), py(s.y[i]), 4, s.color,
                      s.label + ", " + (x_label.empty() ? "x" : x_label) + " " +
                          detail::format_value(s.x[i]) + ": " + detail::format_value(s.y[i]));
  }
}

/// One bar of a bar chart, with an optional error bar (+- `error`) and a tooltip.
struct Bar {
  std::string label;
  double value = 0, error = 0;
  Color color = colors::series[0];
  std::string tooltip;
};

/// Draws a bar chart into the rectangle (x, y, w, h) of `figure`. The value axis starts at zero,
/// so a bar's length is its value (a cut axis makes small gaps look large); each bar is labelled
/// with its value to `decimals` places, and the error bar spans +- its error.
inline void plot_bars(Figure& figure, double x, double y, double w, double h, const std::string& title,
                      const std::string& value_label, const std::vector<Bar>& bars, int decimals) {
  double top_value = 0;
  for (const auto& b : bars) top_value = std::max(top_value, b.value + b.error);
  if (top_value <= 0) top_value = 1;
  const double step = detail::nice_step(top_value, 5), ceiling = std::ceil(top_value / step) * step;
  const std::array<double, 4> area =
      detail::chart_frame(figure, x, y, w, h, title, "", value_label, 0, ceiling, step, 1);
  const double left = area[0], top = area[1], right = area[2], bottom = area[3];
  auto py = [&](double v) { return bottom - v / ceiling * (bottom - top); };
  const double slot = (right - left) / std::max<double>(1, static_cast<double>(bars.size()));
  for (std::size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double center = left + (static_cast<double>(i) + 0.5) * slot, half = std::min(50.0, slot / 3);
    const double bar_top = py(std::max(0.0, b.value));
    figure.rect(center - half, bar_top, 2 * half, bottom - bar_top, b.color, b.tooltip);
    double label_y = bar_top - 8;
    if (b.error > 0) {
      const double hi = py(b.value + b.error), lo = py(std::max(0.0, b.value - b.error));
      figure.line(center, lo, center, hi, colors::black, 2);
      figure.line(center - 8, hi, center + 8, hi, colors::black, 2);
      figure.line(center - 8, lo, center + 8, lo, colors::black, 2);
      label_y = hi - 8;
    }
    char value[32];
    std::snprintf(value, sizeof value, "%.*f", decimals, b.value);
    figure.text(center, std::max(top - 4, label_y), value,
                {text_size::label, colors::black, Anchor::middle, true});
    figure.text(center, bottom + 22, b.label, {text_size::label, colors::black, Anchor::middle});
  }
  figure.line(left, bottom, right, bottom, colors::black, 2);
}

}  // namespace tinydl::viz
