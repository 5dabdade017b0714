// Tests of include/tinydl/data: the IDX reader (plain and gzip, every corruption), the
// Fashion-MNIST loader on synthetic files, Dataset, one_hot.
#include "test_support.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <sys/resource.h>
#include <zlib.h>

using namespace tinydl;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

/// The bytes of an IDX file of unsigned bytes with these dimensions; data = (i * 7) mod 256.
std::vector<char> idx_bytes(const std::vector<std::uint32_t>& dims, std::size_t data_bytes,
                            unsigned char type = 0x08) {
  std::vector<char> bytes{0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((d >> shift) & 0xFF));
  for (std::size_t i = 0; i < data_bytes; ++i) bytes.push_back(static_cast<char>((i * 7) % 256));
  return bytes;
}

void write_plain(const fs::path& path, const std::vector<char>& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const fs::path& path, const std::vector<char>& bytes) {
  gzFile f = gzopen(path.string().c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()));
  gzclose(f);
}

std::string idx_error(const fs::path& path, std::size_t rank) {
  try {
    data::read_idx(path.string(), rank);
  } catch (const IoError& e) {
    return e.what();
  }
  return "no error";
}

/// Writes a small Fashion-MNIST-shaped directory: n_train and n_test images of 28x28.
void write_fake_fashion(const fs::path& dir, std::size_t n_train, std::size_t n_test, bool gzip) {
  auto write = gzip ? write_gzip : write_plain;
  const std::string suffix = gzip ? ".gz" : "";
  auto labels = [](std::size_t n) {
    auto bytes = idx_bytes({static_cast<std::uint32_t>(n)}, 0);
    for (std::size_t i = 0; i < n; ++i) bytes.push_back(static_cast<char>(i % 10));
    return bytes;
  };
  write(dir / ("train-images-idx3-ubyte" + suffix),
        idx_bytes({static_cast<std::uint32_t>(n_train), 28, 28}, n_train * 784));
  write(dir / ("train-labels-idx1-ubyte" + suffix), labels(n_train));
  write(dir / ("t10k-images-idx3-ubyte" + suffix),
        idx_bytes({static_cast<std::uint32_t>(n_test), 28, 28}, n_test * 784));
  write(dir / ("t10k-labels-idx1-ubyte" + suffix), labels(n_test));
}

}  // namespace

TEST_CASE("IDX files are read the same plain and gzipped", "[data][idx]") {
  const fs::path dir = test::temporary_directory("data-idx");
  const auto bytes = idx_bytes({3, 4, 5}, 60);
  write_plain(dir / "images", bytes);
  write_gzip(dir / "images.gz", bytes);
  for (const char* name : {"images", "images.gz"}) {
    const Tensor<std::uint8_t> images = data::read_idx_images((dir / name).string());
    CHECK(images.shape() == Shape{3, 1, 4, 5});
    for (std::size_t i = 0; i < 60; ++i) CHECK(images[i] == (i * 7) % 256);
  }
  auto labels = idx_bytes({4}, 0);
  for (char v : {3, 1, 4, 1}) labels.push_back(v);
  write_gzip(dir / "labels.gz", labels);
  const Tensor<std::int32_t> y = data::read_idx_labels((dir / "labels.gz").string());
  CHECK(std::vector<std::int32_t>(y.begin(), y.end()) == std::vector<std::int32_t>{3, 1, 4, 1});
}

TEST_CASE("Each IDX corruption gives a clear error naming the file and the byte", "[data][idx][errors]") {
  const fs::path dir = test::temporary_directory("data-corrupt");
  auto check_error = [&](const std::string& name, const std::vector<char>& bytes, std::size_t rank,
                         const std::string& expected) {
    for (bool gzip : {false, true}) {
      const fs::path path = dir / (name + (gzip ? ".gz" : ""));
      (gzip ? write_gzip : write_plain)(path, bytes);
      INFO(path);
      CHECK_THAT(idx_error(path, rank), Contains(path.string() + ": byte ") && Contains(expected));
    }
  };
  auto bad_magic = idx_bytes({2, 2, 2}, 8);
  bad_magic[0] = 0x1f;
  check_error("magic", bad_magic, 3, "byte 0: not an IDX file");
  check_error("type", idx_bytes({2, 2, 2}, 8, 0x0D), 3, "byte 2: element type 0xd is not unsigned byte");
  check_error("rank", idx_bytes({8}, 8), 3, "byte 3: expected 3 dimensions (idx3), found 1");
  check_error("truncated", idx_bytes({2, 2, 2}, 5), 3,
              "byte 21: truncated: the header declares 8 bytes of data, the file has 5");
  check_error("header", {0, 0, 8, 3, 0, 0}, 3, "truncated: expected 4 bytes of a dimension size, found 2");
  check_error("trailing", idx_bytes({2, 2, 2}, 9), 3, "byte 24: trailing bytes");
  check_error("huge", idx_bytes({60000, 60000, 28}, 16), 3, "refusing to allocate");
  check_error("zero", idx_bytes({0, 28, 28}, 0), 3, "dimension 0 has size 0");

  // Garbage after a valid gzip header: zlib cannot inflate it.
  std::vector<char> garbage{'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, 3};
  for (int i = 0; i < 64; ++i) garbage.push_back(static_cast<char>(0xA5 ^ i));
  write_plain(dir / "garbage.gz", garbage);
  CHECK_THAT(idx_error(dir / "garbage.gz", 3), Contains("garbage.gz: byte 0: cannot decompress"));
  CHECK_THAT(idx_error(dir / "missing.gz", 3), Contains("missing.gz: cannot open"));
}

TEST_CASE("IDX memory follows the file, not the header: a short file or a gzip bomb is refused cheaply",
          "[data][idx][errors]") {
  const fs::path dir = test::temporary_directory("data-bounded");
  const auto peak_kib = [] {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
  };
  // A 28-byte file declaring 1 GiB - 1 of pixels: it used to zero 1 GiB before finding 12 bytes.
  const long before = peak_kib();
  const auto short_file = idx_bytes({1023, 1024, 1024}, 12);
  for (bool gzip : {false, true}) {
    const fs::path path = dir / (gzip ? "short.gz" : "short");
    (gzip ? write_gzip : write_plain)(path, short_file);
    CHECK_THAT(idx_error(path, 3),
               Contains("truncated: the header declares 1072693248 bytes of data, the file has 12"));
  }
  CHECK(peak_kib() - before < 200 * 1024);  // KiB: far less than the 1 GiB declared
  // 64 MiB of labels gzipped into about 64 KB: inflating more than 64 times the file is refused.
  std::vector<char> bomb = idx_bytes({1u << 26}, 0);
  bomb.resize(bomb.size() + (std::size_t{1} << 26), 0);
  write_gzip(dir / "bomb.gz", bomb);
  INFO("bomb.gz is " << fs::file_size(dir / "bomb.gz") << " bytes");
  CHECK(fs::file_size(dir / "bomb.gz") < 200'000);
  CHECK_THAT(idx_error(dir / "bomb.gz", 1),
             Contains("bomb.gz: inflates to more than 64 times its") && Contains("(a gzip bomb?)"));
  // The same data plain is fine: its size is its content.
  write_plain(dir / "plain-labels", bomb);
  CHECK(data::read_idx((dir / "plain-labels").string(), 1).values.size() == std::size_t{1} << 26);
}

TEST_CASE("fashion_mnist loads the four files, splits deterministically, and checks agreement",
          "[data][fashion]") {
  for (bool gzip : {true, false}) {
    const fs::path dir = test::temporary_directory(gzip ? "data-fashion-gz" : "data-fashion-plain");
    write_fake_fashion(dir, 50, 20, gzip);
    REQUIRE(datasets::fashion_mnist_available(dir.string()));
    const auto data = datasets::fashion_mnist(dir.string(), 10);
    CHECK(data.train.size() == 40);
    CHECK(data.validation.size() == 10);
    CHECK(data.test.size() == 20);
    CHECK(data.train.item_shape() == Shape{1, 28, 28});
    CHECK(data.validation.labels()[0] == 40 % 10);  // the LAST 10 training images
    CHECK(data.train.scale() == Approx(1.0 / 255));
    CHECK(data.validation.features()[0] == static_cast<std::uint8_t>((40 * 784 * 7) % 256));
  }
  const fs::path bad = test::temporary_directory("data-fashion-mismatch");
  write_fake_fashion(bad, 50, 20, true);
  auto labels = idx_bytes({49}, 49);
  write_gzip(bad / "train-labels-idx1-ubyte.gz", labels);
  CHECK_THROWS_WITH(datasets::fashion_mnist(bad.string()),
                    Contains("has 50 images but") && Contains("has 49 labels"));
  const fs::path empty = test::temporary_directory("data-fashion-empty");
  CHECK_FALSE(datasets::fashion_mnist_available(empty.string()));
  CHECK_THROWS_WITH(datasets::fashion_mnist(empty.string()),
                    Contains("install Debian's dataset-fashion-mnist package"));
  CHECK(datasets::fashion_mnist_classes[9] == std::string("Ankle boot"));
}

TEST_CASE("Dataset gathers batches converted and scaled, and slices", "[data][dataset]") {
  Tensor<std::uint8_t> x(Shape{4, 1, 1, 2}, {0, 255, 10, 20, 30, 40, 50, 60});
  const Dataset<std::uint8_t> data(x, Tensor<std::int32_t>(Shape{4}, {0, 1, 2, 3}), 1.0 / 255);
  const std::size_t indices[] = {3, 0};
  float out[4];
  std::int32_t labels[2];
  data.gather(indices, 2, out, labels);
  CHECK(out[0] == Approx(50 / 255.0f));
  CHECK(out[3] == Approx(1.0f));
  CHECK(labels[0] == 3);
  CHECK(labels[1] == 0);
  const auto tail = data.slice(2, 4);
  CHECK(tail.size() == 2);
  CHECK(tail.labels()[0] == 2);
  CHECK(tail.features()[0] == 30);
  CHECK_THROWS_AS(data.slice(3, 5), ShapeError);
}

TEST_CASE("Dataset sample weights: checked, sliced and gathered; a refused set changes nothing",
          "[data][dataset][weights]") {
  Dataset<std::uint8_t> data(Tensor<std::uint8_t>(Shape{4, 1, 1, 2}),
                             Tensor<std::int32_t>(Shape{4}, {0, 1, 2, 3}));
  CHECK_FALSE(data.has_sample_weights());
  data.set_sample_weights(Tensor<float>(Shape{4}, {0.5f, 1, 0, 4}));
  REQUIRE(data.has_sample_weights());
  const std::size_t indices[] = {3, 0, 2};
  float out[6], weights[3];
  std::int32_t labels[3];
  data.gather(indices, 3, out, labels, weights);
  CHECK(weights[0] == 4.0f);
  CHECK(weights[1] == 0.5f);
  CHECK(weights[2] == 0.0f);
  const auto tail = data.slice(1, 3);
  REQUIRE(tail.sample_weights().shape() == Shape{2});
  CHECK(tail.sample_weights()[0] == 1.0f);
  CHECK(tail.sample_weights()[1] == 0.0f);

  CHECK_THROWS_WITH(data.set_sample_weights(Tensor<float>(Shape{3})),
                    "Dataset: expected sample weights (4), one per item, got (3)");
  CHECK_THROWS_AS(data.set_sample_weights(Tensor<float>(Shape{4, 1})), ShapeError);
  CHECK_THROWS_WITH(data.set_sample_weights(Tensor<float>(Shape{4}, {1, 1, -0.5f, 1})),
                    "Dataset: sample weight -0.5 of item 2; weights must be finite and >= 0");
  CHECK_THROWS_WITH(data.set_sample_weights(Tensor<float>(Shape{4}, {1, std::nanf(""), 1, 1})),
                    Contains("sample weight nan of item 1"));
  CHECK(data.sample_weights()[3] == 4.0f);   // unchanged by the refused sets
  data.set_sample_weights(Tensor<float>());  // removes them
  CHECK_FALSE(data.has_sample_weights());
  CHECK_FALSE(data.slice(0, 2).has_sample_weights());
}

TEST_CASE("A Dataset of float targets: checked, sliced and gathered converted", "[data][dataset][targets]") {
  const Dataset<std::uint8_t> data(Tensor<std::uint8_t>(Shape{3, 2}, {1, 2, 3, 4, 5, 6}),
                                   Tensor<float>(Shape{3, 2}, {0.5f, 1, 2, 3, -4, 5}));
  REQUIRE(data.has_targets());
  CHECK(data.target_size() == 2);
  CHECK(data.labels().size() == 0);
  const std::size_t indices[] = {2, 0};
  double out[4], targets[4];
  data.gather(indices, 2, out, nullptr, nullptr, targets);
  CHECK(out[0] == 5.0);
  CHECK(targets[0] == -4.0);
  CHECK(targets[1] == 5.0);
  CHECK(targets[2] == 0.5);
  const auto tail = data.slice(1, 3);
  REQUIRE(tail.targets().shape() == Shape{2, 2});
  CHECK(tail.targets()[0] == 2.0f);
  CHECK(tail.features()[0] == 3);

  CHECK_THROWS_WITH(Dataset<std::uint8_t>(Tensor<std::uint8_t>(Shape{3, 2}), Tensor<float>(Shape{3})),
                    "Dataset: expected targets (3, K) for 3 examples, got (3) (one target per example: shape "
                    "it (N, 1))");
  CHECK_THROWS_AS(Dataset<std::uint8_t>(Tensor<std::uint8_t>(Shape{3, 2}), Tensor<float>(Shape{2, 1})),
                  ShapeError);
  CHECK_THROWS_WITH(Dataset<std::uint8_t>(Tensor<std::uint8_t>(Shape{2, 2}),
                                          Tensor<float>(Shape{2, 2}, {0, 0, 0, std::nanf("")})),
                    "Dataset: example 1 has a non-finite target (nan at output 1)");
}

TEST_CASE("Dataset refuses non-finite features, naming the first", "[data][dataset][nan]") {
  Tensor<float> x(Shape{3, 2, 2});
  std::fill(x.begin(), x.end(), 0.5f);
  CHECK_NOTHROW(Dataset<float>(x, Tensor<std::int32_t>(Shape{3})));
  x[9] = std::numeric_limits<float>::infinity();  // example 2, position 1
  x[11] = std::nanf("");
  CHECK_THROWS_WITH(
      Dataset<float>(x, Tensor<std::int32_t>(Shape{3})),
      "Dataset: example 2 has a non-finite feature (inf at position 1 of the example); clean or "
      "impute the data first");
  x[6] = -std::numeric_limits<float>::quiet_NaN();  // an earlier one wins
  CHECK_THROWS_WITH(Dataset<float>(x, Tensor<std::int32_t>(Shape{3})),
                    Contains("example 1 has a non-finite feature"));
  CHECK_THROWS_AS(Dataset<float>(x, Tensor<std::int32_t>(Shape{3})), ConfigError);
  CHECK_THROWS_WITH(
      Dataset<std::uint8_t>(Tensor<std::uint8_t>(Shape{1, 1}), Tensor<std::int32_t>(Shape{1}), std::nan("")),
      "Dataset: the scale must be finite, got nan");
}

TEST_CASE("one_hot puts a 1 in each label's column", "[data][one_hot]") {
  const Tensor<std::int32_t> labels(Shape{3}, {2, 0, 1});
  const Tensor<float> rows = one_hot<float>(labels.view(), 3);
  CHECK(std::vector<float>(rows.begin(), rows.end()) == std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0});
  CHECK_THROWS_WITH(one_hot<float>(labels.view(), 2), "one_hot: label 2 of example 0 is outside [0, 2)");
}

TEST_CASE("ImageAugmentation shifts with zeros and flips, from (seed, epoch, example) alone",
          "[data][augment]") {
  // Pixels 1..C*H*W (no zeros): an output is the input moved by (dy, dx) and maybe mirrored
  // exactly when every pixel matches that map, so each transform can be identified.
  const std::size_t c = 2, h = 5, w = 6, plane = h * w;
  std::vector<float> original(c * plane), scratch(c * plane);
  for (std::size_t i = 0; i < original.size(); ++i) original[i] = static_cast<float>(i + 1);
  const auto matches = [&](const std::vector<float>& out, long dy, long dx, bool flip) {
    for (std::size_t ch = 0; ch < c; ++ch)
      for (long y = 0; y < long(h); ++y)
        for (long x = 0; x < long(w); ++x) {
          const long sy = y - dy, sx = (flip ? long(w) - 1 - x : x) - dx;
          const float want = sy < 0 || sy >= long(h) || sx < 0 || sx >= long(w)
                                 ? 0.0f
                                 : original[ch * plane + std::size_t(sy) * w + std::size_t(sx)];
          if (out[ch * plane + std::size_t(y) * w + std::size_t(x)] != want) return false;
        }
    return true;
  };
  ImageAugmentation augment;
  augment.max_shift = 2;
  augment.horizontal_flip = true;
  const CounterRng rng(3);
  std::size_t flips = 0, shifts_seen = 0, identities = 0;
  std::vector<int> seen(25, 0);
  for (std::size_t example = 0; example < 400; ++example) {
    std::vector<float> image = original;
    augment.apply(image.data(), c, h, w, rng, /*epoch=*/1, example, scratch.data());
    std::vector<float> again = original;  // the same draws every time
    augment.apply(again.data(), c, h, w, rng, 1, example, scratch.data());
    CHECK(again == image);
    int found = 0;
    for (long dy = -2; dy <= 2; ++dy)
      for (long dx = -2; dx <= 2; ++dx)
        for (const bool flip : {false, true})
          if (matches(image, dy, dx, flip)) {
            ++found;
            flips += flip;
            seen[std::size_t((dy + 2) * 5 + dx + 2)] = 1;
            identities += dy == 0 && dx == 0 && !flip;
          }
    CHECK(found == 1);
  }
  for (const int s : seen) shifts_seen += std::size_t(s);
  CHECK(shifts_seen == 25);  // every shift in [-2, 2]^2 occurs
  CHECK(flips > 150);        // about half are mirrored
  CHECK(flips < 250);
  CHECK(identities < 40);
  std::vector<float> epoch1 = original, epoch2 = original;  // another epoch, other draws
  std::size_t differ = 0;
  for (std::size_t example = 0; example < 20; ++example) {
    epoch1 = epoch2 = original;
    augment.apply(epoch1.data(), c, h, w, rng, 1, example, scratch.data());
    augment.apply(epoch2.data(), c, h, w, rng, 2, example, scratch.data());
    differ += epoch1 != epoch2;
  }
  CHECK(differ > 10);
  CHECK_FALSE(ImageAugmentation{}.enabled());
}
