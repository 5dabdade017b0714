// Classifies clothing with a model saved by fashion_mnist_compare (or any Sequential::save of a
// 1x28x28, 10-class model): Fashion-MNIST test images by index, or your own PNG/JPEG files.
//
//   predict MODEL.safetensors --index 0 17 42         test images by index
//   predict MODEL.safetensors photo.png shoe.jpg      image files
//   predict MODEL.safetensors --onnx model.onnx       export for ONNX Runtime (and other engines)
//
// Image files are converted the way the dataset's images were made (load_picture), and the output
// says what was done: grayscale, inverted only on a light background, trimmed to the object,
// scaled to 28 pixels on its longest side keeping the aspect ratio, centred on 28x28.
#include <tinydl/tinydl.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb/stb_image.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

using namespace tinydl;

namespace {

/// The most pixels a picture may have (8192 x 4096): decoding holds about 2 bytes per pixel, so a
/// small file that declares a huge image (a 2.4 MB PNG of 16000 x 16000) is refused before stb
/// allocates gigabytes for it.
constexpr std::uint64_t max_picture_pixels = std::uint64_t{1} << 25;

/// A picture converted to a Fashion-MNIST image, and what was done to it.
struct Converted {
  std::vector<std::uint8_t> pixels;  // 28 x 28, 0..255
  std::string steps;                 // for the user: the conversion, step by step
};

/// A picture file converted the way Fashion-MNIST's images were made from product photos
/// (Zalando's description of the dataset): grayscale; the object light on a dark background
/// (inverted only when the picture's background, read from its border, is light); the edges that
/// are the background's colour trimmed away; the longest side scaled to 28 pixels by area
/// averaging, keeping the aspect ratio; the shorter side padded with the background to 28, the
/// object centred.
Converted load_picture(const std::string& path) {
  // stb may give no reason: a null char* must not reach the stream
  const auto failure = [&](const char* doing) {
    const char* reason = stbi_failure_reason();
    return IoError(
        detail::concat(path, ": cannot ", doing, " (",
                       reason ? reason : "not a PNG, JPEG, BMP, GIF, TGA or PNM file stb can decode", ")"));
  };
  int width = 0, height = 0, channels = 0;
  if (!stbi_info(path.c_str(), &width, &height, &channels)) throw failure("read the image's size");
  const std::uint64_t pixels = std::uint64_t(width) * std::uint64_t(height);
  check<IoError>(width > 0 && height > 0 && pixels <= max_picture_pixels, path, ": the image is ", width,
                 " x ", height, " pixels, more than the ", max_picture_pixels,
                 " this program reads; scale it down first");
  const std::unique_ptr<unsigned char, void (*)(void*)> gray(
      stbi_load(path.c_str(), &width, &height, &channels, 1),
      stbi_image_free);  // 1 = grayscale
  if (!gray) throw failure("read the image");
  const auto raw = [&](int x, int y) {
    return double(gray.get()[std::size_t(y) * std::size_t(width) + std::size_t(x)]);
  };

  // The background is the border's mean; Fashion-MNIST shows light objects on black.
  double border = 0;
  for (int x = 0; x < width; ++x) border += raw(x, 0) + raw(x, height - 1);
  for (int y = 0; y < height; ++y) border += raw(0, y) + raw(width - 1, y);
  border /= 2.0 * (width + height);
  const bool invert = border > 127;
  const auto at = [&](int x, int y) { return invert ? 255 - raw(x, y) : raw(x, y); };
  const double background = invert ? 255 - border : border;

  // Trim: the smallest box holding every pixel more than 5% of the range from the background.
  int left = width, right = -1, top = height, bottom = -1;
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      if (std::abs(at(x, y) - background) > 0.05 * 255) {
        left = std::min(left, x), right = std::max(right, x);
        top = std::min(top, y), bottom = std::max(bottom, y);
      }
  const bool found = right >= 0;
  if (!found) left = 0, right = width - 1, top = 0, bottom = height - 1;
  const int box_w = right - left + 1, box_h = bottom - top + 1;

  // Scale the longest side to 28, keeping the aspect ratio, then centre on a 28 x 28 background.
  const int out_w = box_w >= box_h ? 28 : std::max(1, static_cast<int>(std::lround(28.0 * box_w / box_h)));
  const int out_h = box_h >= box_w ? 28 : std::max(1, static_cast<int>(std::lround(28.0 * box_h / box_w)));
  const int off_x = (28 - out_w) / 2, off_y = (28 - out_h) / 2;
  Converted c;
  c.pixels.assign(28 * 28, static_cast<std::uint8_t>(std::lround(background)));
  for (int oy = 0; oy < out_h; ++oy)
    for (int ox = 0; ox < out_w; ++ox) {
      // Area averaging: the mean of the input pixels this output pixel covers.
      const int x0 = left + ox * box_w / out_w, x1 = std::max(x0 + 1, left + (ox + 1) * box_w / out_w);
      const int y0 = top + oy * box_h / out_h, y1 = std::max(y0 + 1, top + (oy + 1) * box_h / out_h);
      double sum = 0;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) sum += at(x, y);
      c.pixels[static_cast<std::size_t>(oy + off_y) * 28 + static_cast<std::size_t>(ox + off_x)] =
          static_cast<std::uint8_t>(sum / ((x1 - x0) * (y1 - y0)) + 0.5);
    }
  c.steps = detail::concat(
      width, "x", height, " pixels; ",
      invert ? "light background (border mean " : "dark background (border mean ",
      static_cast<int>(std::lround(border)), "), ", invert ? "inverted" : "not inverted", "; ",
      found ? detail::concat("object trimmed to ", box_w, "x", box_h, " at (", left, ", ", top, ")")
            : std::string("no object stands out from the background: the whole picture used"),
      "; scaled to ", out_w, "x", out_h, " and centred on 28x28");
  return c;
}

void print_top3(const std::string& what, const float* probabilities, int truth) {
  std::vector<std::size_t> order(10);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::partial_sort(order.begin(), order.begin() + 3, order.end(),
                    [&](std::size_t a, std::size_t b) { return probabilities[a] > probabilities[b]; });
  std::printf("%s:", what.c_str());
  for (int k = 0; k < 3; ++k)
    std::printf("  %s %.1f%%", datasets::fashion_mnist_classes[order[k]], 100.0 * probabilities[order[k]]);
  if (truth >= 0)
    std::printf("   (true: %s)", datasets::fashion_mnist_classes[static_cast<std::size_t>(truth)]);
  std::printf("\n");
}

}  // namespace

const char* usage =
    "usage: predict MODEL.safetensors (--index N... | IMAGE... | --onnx OUT.onnx)\n"
    "Classifies Fashion-MNIST test images by index, or picture files (PNG, JPEG, BMP, GIF, TGA, PNM),\n"
    "with a model saved by fashion_mnist_compare (or any 1x28x28, 10-class Sequential).\n"
    "Pictures are converted as the dataset's images were: grayscale, inverted when the background is\n"
    "light, trimmed to the object, the longest side scaled to 28 keeping the aspect ratio, centred on\n"
    "28x28; the output says what was done to each. --onnx writes the model's evaluation pass as an\n"
    "ONNX file instead (input \"input\" (N, 1, 28, 28) scaled to [0, 1], output \"logits\").\n";

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
      std::printf("%s", usage);
      return 0;
    }
  if (argc < 3) {
    std::fprintf(stderr, "%s", usage);
    return 2;
  }
  try {
    Sequential<float> model = load_model<float>(argv[1]);
    check<ConfigError>(model.input_shape() == Shape{1, 28, 28} && model.classes() == 10, argv[1],
                       ": not a Fashion-MNIST model (input ", model.input_shape(), ", ", model.classes(),
                       " classes)");
    if (std::string(argv[2]) == "--onnx") {
      check<ConfigError>(argc == 4, "--onnx takes one output path");
      save_onnx(model, argv[3]);
      std::printf("wrote %s: input \"input\" (N, 1, 28, 28), output \"logits\" (N, 10)\n", argv[3]);
      return 0;
    }
    const bool by_index = std::string(argv[2]) == "--index";
    std::vector<std::string> items(argv + (by_index ? 3 : 2), argv + argc);
    check<ConfigError>(!items.empty(), "nothing to classify");

    Tensor<float> x(Shape{items.size(), 1, 28, 28});
    std::vector<int> truth(items.size(), -1);
    std::vector<std::string> steps(items.size());
    if (by_index) {
      const auto test = datasets::fashion_mnist().test;
      for (std::size_t i = 0; i < items.size(); ++i) {
        std::size_t used = 0;
        unsigned long long index = test.size();  // out of range unless it parses
        const bool digits =
            !items[i].empty() && items[i].find_first_not_of("0123456789") == std::string::npos;
        if (digits && items[i].size() <= 18) index = std::stoull(items[i], &used);
        check<ConfigError>(index < test.size(), "--index: '", items[i], "' is not a test image index (0 to ",
                           test.size() - 1, ")");
        std::int32_t label = 0;
        const std::size_t one = index;
        test.gather(&one, 1, x.data() + i * 784, &label);
        truth[i] = label;
      }
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        Converted picture = load_picture(items[i]);
        for (std::size_t p = 0; p < 784; ++p) x[i * 784 + p] = picture.pixels[p] / 255.0f;
        steps[i] = std::move(picture.steps);
      }
    }
    Predictor<float> predictor(model);  // the deployed form: weights packed once
    const Tensor<float> probabilities = predictor.predict(x.view());
    for (std::size_t i = 0; i < items.size(); ++i) {
      print_top3(by_index ? "test image " + items[i] : items[i], probabilities.data() + i * 10, truth[i]);
      if (!steps[i].empty()) std::printf("  converted: %s\n", steps[i].c_str());
    }
    return 0;
  } catch (const std::exception& e) {  // tinydl::Error and anything else: one line, no abort
    std::fprintf(stderr, "predict: %s\n", e.what());
    return 1;
  }
}
