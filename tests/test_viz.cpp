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

TEST_CASE("Text is drawn at its measured size, at 2x scale for legibility", "[viz][text]") {
  viz::Canvas canvas(300, 40);
  const std::string text = "Ankle boot 99.8%";
  const int width = viz::Canvas::text_width(text);
  canvas.draw_text(10, 10, text, viz::colors::black);
  int min_x = 1000, max_x = -1, min_y = 1000, max_y = -1;
  for (int y = 0; y < 40; ++y)
    for (int x = 0; x < 300; ++x)
      if (canvas.at(x, y).r == 0) {
        min_x = std::min(min_x, x), max_x = std::max(max_x, x);
        min_y = std::min(min_y, y), max_y = std::max(max_y, y);
      }
  CHECK(min_x >= 10);
  CHECK(max_x < 10 + width);
  CHECK(max_x - min_x > width * 3 / 4);
  CHECK(max_y - min_y + 1 >= 12);  // glyphs about 14 pixels tall at scale 2
  CHECK(max_y - min_y + 1 <= viz::Canvas::text_height() + 4);
}

TEST_CASE("Figures draw image grids, heat maps and charts that read back as PNG", "[viz][figures]") {
  const fs::path dir = test::temporary_directory("viz-figures");
  std::vector<std::uint8_t> image(28 * 28);
  for (std::size_t i = 0; i < image.size(); ++i) image[i] = static_cast<std::uint8_t>(i % 256);
  std::vector<viz::Tile> tiles(
      7, viz::Tile{image.data(), {"true: Shirt", "pred: Coat", "confidence 91.2%"}, viz::colors::red});
  const viz::Canvas grid = viz::image_grid(tiles, 28, 3, "mistakes");
  grid.save_png((dir / "grid.png").string());
  const Decoded g = read_png(dir / "grid.png");
  CHECK(g.width == grid.width());
  CHECK(g.height > 3 * 28 * 5);                    // three rows of 5x images
  CHECK(count_color(g, viz::colors::red) > 1000);  // the captions

  const std::vector<std::int32_t> predicted{0, 1, 1, 2};
  const Tensor<std::int32_t> truth(Shape{4}, {0, 1, 2, 2});
  const metrics::ConfusionMatrix m(predicted, truth.view(), 3);
  viz::confusion_heatmap(m, {"a", "b", "c"}, "confusion").save_png((dir / "heat.png").string());
  CHECK(read_png(dir / "heat.png").width > 3 * 58);

  viz::Canvas chart(800, 400);
  viz::plot_lines(chart, 0, 0, 800, 400, "loss", "epoch", "loss",
                  {{"train", {1, 2, 3}, {1.0, 0.5, 0.3}, viz::colors::series[0], false},
                   {"val", {1, 2, 3}, {1.1, std::nan(""), 0.4}, viz::colors::series[1], true}});
  viz::plot_bars(chart, 0, 0, 400, 400, "accuracy", "%", {{"mlp", 88.1, 0.2}, {"cnn", 91.3, 0.0}}, 80, 1);
  chart.save_png((dir / "chart.png").string());
  const Decoded c = read_png(dir / "chart.png");
  CHECK(count_color(c, viz::colors::series[0]) > 500);
  CHECK(count_color(c, viz::colors::series[1]) > 50);
}

TEST_CASE("The HTML report escapes text and references its figures", "[viz][html]") {
  viz::HtmlReport report("A <b> & c");
  report.paragraph("x < y");
  report.table({"model", "acc"}, {{"mlp", "88%"}});
  report.figure("mlp/curves.png", "curves \"quoted\"");
  const std::string html = report.html();
  CHECK_THAT(html, Contains("<title>A &lt;b&gt; &amp; c</title>"));
  CHECK_THAT(html, Contains("<p>x &lt; y</p>"));
  CHECK_THAT(html, Contains("<th scope=\"row\">mlp</th><td>88%</td>"));
  CHECK_THAT(html, Contains("<img src=\"mlp/curves.png\" alt=\"curves &quot;quoted&quot;\">"));
  CHECK(html.find("<script") == std::string::npos);
  const fs::path path = test::temporary_directory("viz-html") / "report.html";
  report.write(path.string());
  CHECK(fs::file_size(path) == html.size());
}
