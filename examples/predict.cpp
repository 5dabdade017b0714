// Classifies clothing with a model saved by fashion_mnist_compare (or any Sequential::save of a
// 1x28x28, 10-class model): Fashion-MNIST test images by index, or your own PNG/JPEG files.
//
//   predict MODEL.safetensors --index 0 17 42         test images by index
//   predict MODEL.safetensors photo.png shoe.jpg      image files
//
// Image files are converted the way the dataset was made: grayscale, the object light on a dark
// background (inverted when the picture's border is light), scaled to 28x28 by area averaging.
#include <tinydl/tinydl.hpp>

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#include <stb/stb_image.h>

#include <algorithm>
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

/// A picture file as a 28x28 Fashion-MNIST-like image, pixels 0..255.
std::vector<std::uint8_t> load_picture(const std::string& path) {
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
  const auto at = [&](int x, int y) {
    return double(gray.get()[std::size_t(y) * std::size_t(width) + std::size_t(x)]);
  };

  // Fashion-MNIST shows light objects on black: invert pictures whose border is light.
  double border = 0;
  for (int x = 0; x < width; ++x) border += at(x, 0) + at(x, height - 1);
  for (int y = 0; y < height; ++y) border += at(0, y) + at(width - 1, y);
  const bool invert = border / (2.0 * (width + height)) > 127;

  // Area-average into 28x28: each output pixel is the mean of the input pixels it covers.
  std::vector<std::uint8_t> out(28 * 28);
  for (int oy = 0; oy < 28; ++oy)
    for (int ox = 0; ox < 28; ++ox) {
      const int x0 = ox * width / 28, x1 = std::max(x0 + 1, (ox + 1) * width / 28);
      const int y0 = oy * height / 28, y1 = std::max(y0 + 1, (oy + 1) * height / 28);
      double sum = 0;
      for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) sum += invert ? 255 - at(x, y) : at(x, y);
      out[static_cast<std::size_t>(oy) * 28 + ox] =
          static_cast<std::uint8_t>(sum / ((x1 - x0) * (y1 - y0)) + 0.5);
    }
  return out;
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

int main(int argc, char** argv) {
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
    std::printf("usage: %s MODEL.safetensors (--index N... | IMAGE...)\n", argv[0]);
    return 0;
  }
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.safetensors (--index N... | IMAGE...)\n", argv[0]);
    return 2;
  }
  try {
    Sequential<float> model = load_model<float>(argv[1]);
    check<ConfigError>(model.input_shape() == Shape{1, 28, 28} && model.classes() == 10, argv[1],
                       ": not a Fashion-MNIST model (input ", model.input_shape(), ", ", model.classes(),
                       " classes)");
    const bool by_index = std::string(argv[2]) == "--index";
    std::vector<std::string> items(argv + (by_index ? 3 : 2), argv + argc);
    check<ConfigError>(!items.empty(), "nothing to classify");

    Tensor<float> x(Shape{items.size(), 1, 28, 28});
    std::vector<int> truth(items.size(), -1);
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
        const auto picture = load_picture(items[i]);
        for (std::size_t p = 0; p < 784; ++p) x[i * 784 + p] = picture[p] / 255.0f;
      }
    }
    const Tensor<float> probabilities = model.predict(x.view());
    for (std::size_t i = 0; i < items.size(); ++i)
      print_top3(by_index ? "test image " + items[i] : items[i], probabilities.data() + i * 10, truth[i]);
    return 0;
  } catch (const std::exception& e) {  // tinydl::Error and anything else: one line, no abort
    std::fprintf(stderr, "predict: %s\n", e.what());
    return 1;
  }
}
