// Tests of include/tinydl/viz: PNG files that stb_image reads back with the right size and
// pixels, text and figures that draw inside their canvas, and the HTML report.
#include "test_support.hpp"

#include <filesystem>
#include <fstream>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb/stb_image.h>

using namespace tinydl;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

struct Decoded {
  int width = 0, height = 0;
  std::vector<unsigned char> rgb;
};

Decoded read_png(const fs::path& path) {
  Decoded d;
  int channels = 0;
  unsigned char* pixels = stbi_load(path.string().c_str(), &d.width, &d.height, &channels, 3);
  REQUIRE(pixels != nullptr);
  d.rgb.assign(pixels, pixels + static_cast<std::size_t>(d.width) * d.height * 3);
  stbi_image_free(pixels);
  return d;
}

std::size_t count_color(const Decoded& d, viz::Color c) {
  std::size_t n = 0;
  for (std::size_t i = 0; i < d.rgb.size(); i += 3)
    n += d.rgb[i] == c.r && d.rgb[i + 1] == c.g && d.rgb[i + 2] == c.b;
  return n;
}

// No two texts of a figure overlap, and each lies inside the figure.
void check_layout(const viz::Figure& f, const std::string& what) {
  const auto boxes = f.text_boxes();
  REQUIRE(!boxes.empty());
  for (std::size_t i = 0; i < boxes.size(); ++i) {
    const auto& a = boxes[i];
    INFO(what << ": '" << a.text << "' at " << a.left << "," << a.top << " - " << a.right << "," << a.bottom);
    CHECK(a.left >= 0);
    CHECK(a.top >= 0);
    CHECK(a.right <= f.width());
    CHECK(a.bottom <= f.height());
    for (std::size_t j = i + 1; j < boxes.size(); ++j) {
      const auto& b = boxes[j];
      INFO("overlaps '" << b.text << "' at " << b.left << "," << b.top << " - " << b.right << ","
                        << b.bottom);
      CHECK((a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top));
    }
  }
}

std::size_t occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("A canvas saved as PNG reads back with its size and pixels", "[viz][png]") {
  viz::Canvas canvas(40, 30);
  canvas.fill_rect(5, 5, 10, 4, viz::colors::red);
  canvas.set(39, 29, viz::Color{1, 2, 3});
  canvas.set(100, 100, viz::colors::black);  // clipped, not a crash
  const fs::path path = test::temporary_directory("viz-png") / "canvas.png";
  canvas.save_png(path.string());
  const Decoded d = read_png(path);
  CHECK(d.width == 40);
  CHECK(d.height == 30);
  CHECK(count_color(d, viz::colors::red) == 40);
  CHECK(d.rgb[(29 * 40 + 39) * 3 + 2] == 3);
  CHECK(d.rgb[0] == 255);  // white background
}

TEST_CASE("Text is drawn anti-aliased with the TrueType font, at its measured size", "[viz][text]") {
  const viz::Font& font = viz::Font::figures();
  INFO("fonts-dejavu-core provides "
       << "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
  REQUIRE(font.is_truetype());
  viz::Canvas canvas(300, 60);
  const std::string text = "Ankle boot 99.8%";
  const double width = font.width(text, 14);
  CHECK(width > 80);
  CHECK(width < 160);
  CHECK(font.width(text, 14, true) > width);  // bold is wider
  canvas.draw_text(10, 30, text, viz::colors::black, 14);
  int min_x = 1000, max_x = -1, min_y = 1000, max_y = -1;
  std::size_t partial = 0;
  for (int y = 0; y < 60; ++y)
    for (int x = 0; x < 300; ++x) {
      const int v = canvas.at(x, y).r;
      partial += v > 20 && v < 235;
      if (v < 128) {
        min_x = std::min(min_x, x), max_x = std::max(max_x, x);
        min_y = std::min(min_y, y), max_y = std::max(max_y, y);
      }
    }
  CHECK(min_x >= 10);
  CHECK(max_x <= 10 + width + 1);
  CHECK(max_x - min_x > width * 0.85);
  CHECK(max_y <= 30 + 4);   // "99.8%" has no descender below the comma-free baseline
  CHECK(min_y >= 30 - 12);  // capitals and digits about 10 pixels tall at 14 px per em
  CHECK(max_y - min_y + 1 >= 9);
  CHECK(partial > 40);  // anti-aliased edges, not a bitmap font's two levels

  // Vertical text reads upwards: taller than wide, ending above its anchor.
  viz::Canvas tall(60, 300);
  tall.draw_text(30, 250, text, viz::colors::black, 14, viz::Anchor::start, false, true);
  min_x = 1000, max_x = -1, min_y = 1000, max_y = -1;
  for (int y = 0; y < 300; ++y)
    for (int x = 0; x < 60; ++x)
      if (tall.at(x, y).r < 128) {
        min_x = std::min(min_x, x), max_x = std::max(max_x, x);
        min_y = std::min(min_y, y), max_y = std::max(max_y, y);
      }
  CHECK(max_y <= 250);
  CHECK(250 - min_y > width * 0.85);
  CHECK(max_x <= 30 + 1);  // glyphs' tops point left of the baseline
  CHECK(max_x - min_x < 16);
}

TEST_CASE("base64 encodes as RFC 4648 says", "[viz][html]") {
  const auto enc = [](const std::string& s) { return viz::base64(std::vector<char>(s.begin(), s.end())); };
  CHECK(enc("") == "");
  CHECK(enc("M") == "TQ==");
  CHECK(enc("Ma") == "TWE=");
  CHECK(enc("Man") == "TWFu");
  CHECK(enc("\xff\xfe\xfd") == "//79");
}

TEST_CASE(
    "Figures draw image grids, heat maps and charts as PNG and SVG, with tooltips and no overlapping text",
    "[viz][figures]") {
  const fs::path dir = test::temporary_directory("viz-figures");
  std::vector<std::uint8_t> image(28 * 28);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<std::uint8_t>(i % 256);
  std::vector<viz::Tile> tiles(7, viz::Tile{image.data(),
                                            {"#12 true: Shirt", "pred: Coat", "confidence 91.2%"},
                                            viz::colors::red,
                                            "test image #12"});
  const viz::Figure grid = viz::image_grid(tiles, 28, 3, "mistakes");
  check_layout(grid, "grid");
  grid.save_png((dir / "grid.png").string());
  const Decoded g = read_png(dir / "grid.png");
  CHECK(g.width == grid.width());
  CHECK(g.height > 3 * 28 * 5);                   // three rows of 5x images
  CHECK(count_color(g, viz::colors::red) > 100);  // the captions' solid pixels
  const std::string grid_svg = grid.svg("mistakes");
  CHECK(occurrences(grid_svg, "href=\"data:image/png;base64,") == 7);
  CHECK(occurrences(grid_svg, "<title>test image #12</title>") == 7);
  CHECK_THAT(grid_svg, Contains(">#12 true: Shirt</text>"));

  const std::vector<std::int32_t> predicted{0, 1, 1, 2};
  const Tensor<std::int32_t> truth(Shape{4}, {0, 1, 2, 2});
  const metrics::ConfusionMatrix m(predicted, truth.view(), 3);
  const viz::Figure heat = viz::confusion_heatmap(m, {"alpha", "beta", "gamma"}, "confusion");
  check_layout(heat, "heat map");
  heat.save_png((dir / "heat.png").string());
  CHECK(read_png(dir / "heat.png").width == heat.width());
  const std::string heat_svg = heat.svg();
  CHECK(occurrences(heat_svg, ">gamma</text>") == 2);  // rows and columns are named
  CHECK_THAT(heat_svg, Contains("<title>true gamma, predicted beta: 1 of 2 (50.0%)</title>"));
  CHECK_THAT(heat_svg, Contains("rotate(-90"));

  viz::Figure chart(1200, 400);
  viz::plot_lines(chart, 0, 0, 700, 400, "loss", "epoch", "loss",
                  {{"training", {1, 2, 3}, {1.0, 0.5, 0.3}, viz::colors::series[0], false},
                   {"validation", {1, 2, 3}, {1.1, std::nan(""), 0.4}, viz::colors::series[1], true}},
                  {{2, "weights kept"}});
  viz::plot_bars(chart, 700, 0, 500, 400, "accuracy", "accuracy (%)",
                 {{"mlp", 88.1, 0.2, viz::colors::series[0], "mlp 88.1"},
                  {"cnn", 91.3, 0.0, viz::colors::series[1], ""}},
                 1);
  check_layout(chart, "charts");
  chart.save_png((dir / "chart.png").string());
  const Decoded c = read_png(dir / "chart.png");
  CHECK(count_color(c, viz::colors::series[0]) > 500);
  CHECK(count_color(c, viz::colors::series[1]) > 50);
  const std::string chart_svg = chart.svg();
  CHECK_THAT(chart_svg, Contains("<title>training, epoch 2: 0.5</title>"));
  CHECK(occurrences(chart_svg, "<circle") == 5);  // the NaN point is skipped
  CHECK_THAT(chart_svg, Contains("<title>mlp 88.1</title>"));
  CHECK_THAT(chart_svg, Contains("text-anchor=\"end\">0</text>"));  // bars start at zero
  CHECK_THAT(chart_svg, Contains("stroke-dasharray"));
}

TEST_CASE("The HTML report is one file: escaped text, inline SVG figures, no scripts, no external resource",
          "[viz][html]") {
  viz::HtmlReport report("A <b> & c");
  report.banner("QUICK & dirty");
  report.paragraph("x < y");
  report.heading("one");
  report.table({"model", "acc", "note"}, {{"mlp", "88%", "fine"}});
  report.heading("two");
  viz::Figure f(100, 50);
  f.rect(10, 10, 20, 20, viz::colors::red, "a \"red\" square");
  report.figure(f, "curves \"quoted\"");
  report.heading("three");
  const std::string html = report.html();
  CHECK_THAT(html, Contains("<title>A &lt;b&gt; &amp; c</title>"));
  CHECK_THAT(html, Contains("<p class=\"banner\">QUICK &amp; dirty</p>"));
  CHECK_THAT(html, Contains("<p>x &lt; y</p>"));
  CHECK_THAT(html, Contains("<th scope=\"row\">mlp</th><td class=\"num\">88%</td><td>fine</td>"));
  CHECK_THAT(html, Contains("aria-label=\"curves &quot;quoted&quot;\""));
  CHECK_THAT(html, Contains("<title>a &quot;red&quot; square</title>"));
  CHECK_THAT(html, Contains("<a href=\"#s2\">two</a>"));
  CHECK(html.find("class=\"banner\"") < html.find("<nav>"));  // the banner comes first
  CHECK_THAT(html, Contains("<h2 id=\"s2\">two</h2>"));
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("src=") == std::string::npos);
  CHECK(html.find("url(") == std::string::npos);
  const fs::path path = test::temporary_directory("viz-html") / "report.html";
  report.write(path.string());
  CHECK(fs::file_size(path) == html.size());
}
