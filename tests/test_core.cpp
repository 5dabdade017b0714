// Tests of include/tinydl/core: Shape, Tensor and views, errors, the counter-based RNG,
// initialisers and the thread-count helpers.
#include <tinydl/tinydl.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

using namespace tinydl;
using Catch::Matchers::Contains;

TEST_CASE("Shape prints like PyTorch sizes and counts elements", "[core][shape]") {
  const Shape s{64, 32, 28, 28};
  CHECK(s.to_string() == "(64, 32, 28, 28)");
  CHECK(s.rank() == 4);
  CHECK(s.numel() == 64u * 32 * 28 * 28);
  CHECK(s.item_numel() == 32u * 28 * 28);
  CHECK(s.with_batch(8) == Shape{8, 32, 28, 28});
  CHECK(Shape{10}.to_string() == "(10)");
  CHECK(Shape{}.to_string() == "()");
  CHECK(Shape{}.numel() == 0);
  CHECK(Shape{3, 0, 2}.numel() == 0);
  CHECK(Shape{2, 3} != Shape{3, 2});
  CHECK(Shape{2, 3} != Shape{2, 3, 1});
}

TEST_CASE("Shape rejects bad ranks, axes and overflowing sizes with clear messages", "[core][shape]") {
  CHECK_THROWS_WITH(Shape({1, 2, 3, 4, 5}), "Shape: rank must be 1 to 4, got 5");
  CHECK_THROWS_AS(Shape({1, 2, 3, 4, 5}), ShapeError);
  CHECK_THROWS_WITH(Shape({2, 3})[2], "Shape (2, 3): axis 2 out of range for rank 2");
  const std::size_t huge = std::size_t{1} << 40;
  CHECK_THROWS_WITH(Shape({huge, huge}), "Shape: element count overflows");
}

TEST_CASE("Tensor storage is 64-byte aligned, zero-filled and deep-copied", "[core][tensor]") {
  for (std::size_t n : {1u, 3u, 17u, 1000u}) {
    Tensor<float> t(Shape{n});
    CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);
    for (float v : t) CHECK(v == 0.0f);
  }
  Tensor<double> d(Shape{3, 5}, 2.5);
  CHECK(reinterpret_cast<std::uintptr_t>(d.data()) % 64 == 0);
  CHECK(d[14] == 2.5);

  Tensor<float> a(Shape{2, 2}, {1, 2, 3, 4});
  Tensor<float> b = a;
  b[0] = 10;
  CHECK(a[0] == 1);
  CHECK(b.data() != a.data());
  Tensor<float> moved = std::move(b);
  CHECK(moved[0] == 10);
  CHECK(b.data() == nullptr);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
}

TEST_CASE("Tensor multi-index access is row-major (N, C, H, W) and bounds-checked", "[core][tensor]") {
  Tensor<int> t(Shape{2, 3, 4, 5});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int>(i);
  CHECK(t.at(1, 2, 3, 4) == 119);
  CHECK(t.at(1, 0, 0, 0) == 60);
  CHECK(t.at(0, 1, 0, 0) == 20);
  CHECK(t.at(0, 0, 1, 0) == 5);
  CHECK_THROWS_WITH(t.at(0, 3, 0, 0), "TensorView::at: index 3 out of range on axis 1 of shape (2, 3, 4, 5)");
  CHECK_THROWS_WITH(t.at(0, 0), "TensorView::at: 2 indices for a tensor of shape (2, 3, 4, 5)");
}

TEST_CASE("Views slice the batch and reshape without copying", "[core][tensor]") {
  Tensor<float> t(Shape{4, 2, 3});
  for (std::size_t i = 0; i < t.size(); ++i) t[i] = static_cast<float>(i);
  TensorView<float> batch = t.slice(1, 3);
  CHECK(batch.shape() == Shape{2, 2, 3});
  CHECK(batch.data() == t.data() + 6);
  CHECK(batch.at(0, 0, 0) == 6.0f);
  batch.at(1, 1, 2) = -1.0f;
  CHECK(t[17] == -1.0f);

  TensorView<const float> ro = batch;  // mutable -> read-only conversion
  CHECK(ro.reshape(Shape{12}).at(11) == -1.0f);
  CHECK_THROWS_WITH(t.slice(3, 5), "TensorView::slice: [3, 5) out of range for shape (4, 2, 3)");
  CHECK_THROWS_WITH(ro.reshape(Shape{5, 2}),
                    "TensorView::reshape: cannot view (2, 2, 3) (12 elements) as (5, 2) (10 elements)");

  t.reshape(Shape{4, 6});
  CHECK(t.shape() == Shape{4, 6});
  CHECK_THROWS_AS(t.reshape(Shape{5, 5}), ShapeError);
  CHECK_THROWS_WITH(Tensor<float>(Shape{2, 2}, {1, 2, 3}),
                    "Tensor: 3 values given for shape (2, 2) (4 elements)");
}

TEST_CASE("Error types form a hierarchy under std::runtime_error", "[core][error]") {
  CHECK_THROWS_AS(check<ShapeError>(false, "x"), Error);
  CHECK_THROWS_AS(check<IoError>(false, "x"), std::runtime_error);
  CHECK_THROWS_WITH(check<ConfigError>(false, "batch size must be positive, got ", 0),
                    "batch size must be positive, got 0");
  CHECK_NOTHROW(check<ConfigError>(true, "never built"));
}

TEST_CASE("Philox4x32-10 matches the Random123 known-answer vectors", "[core][rng]") {
  using W = std::array<std::uint32_t, 4>;
  CHECK(philox4x32_10({0, 0, 0, 0}, {0, 0}) == W{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}) ==
        W{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}) ==
        W{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("Philox on many counters at once gives each counter's own blocks", "[core][rng]") {
  // The known-answer counters in lanes 0-2 of 5, and CounterRng::blocks against block one by one,
  // across a carry of the counter's low word.
  std::uint32_t c[4][5] = {{0, 0xffffffff, 0x243f6a88, 1, 2},
                           {0, 0xffffffff, 0x85a308d3, 3, 4},
                           {0, 0xffffffff, 0x13198a2e, 5, 6},
                           {0, 0xffffffff, 0x03707344, 7, 8}};
  std::uint32_t same_key[4][5];
  std::copy(&c[0][0], &c[0][0] + 20, &same_key[0][0]);
  philox4x32_10_lanes(same_key, {0xa4093822, 0x299f31d0});
  CHECK(same_key[0][2] == 0xd16cfe09);
  CHECK(same_key[3][2] == 0x24126ea1);
  for (std::size_t j = 0; j < 5; ++j) {
    const auto one = philox4x32_10({c[0][j], c[1][j], c[2][j], c[3][j]}, {0xa4093822, 0x299f31d0});
    for (std::size_t k = 0; k < 4; ++k) CHECK(same_key[k][j] == one[k]);
  }
  const CounterRng rng(0x1234567890abcdefull);
  const std::uint64_t stream = (std::uint64_t{3} << 32) | 17, first = 0xfffffff9ull;  // lanes cross 2^32
  std::uint32_t words[4][16];
  rng.blocks(stream, first, words);
  for (std::size_t j = 0; j < 16; ++j) {
    const auto one = rng.block(stream, first + j);
    for (std::size_t k = 0; k < 4; ++k) CHECK(words[k][j] == one[k]);
  }
}

TEST_CASE("CounterRng draws are a pure function of (seed, stream, index)", "[core][rng]") {
  const CounterRng rng(7);
  // Known first values: the block is Philox of counter (index, 0, stream, 0) under key (seed, 0).
  CHECK(rng.block(0, 0) == philox4x32_10({0, 0, 0, 0}, {7, 0}));
  const auto w = philox4x32_10({5, 0, 3, 0}, {7, 0});
  CHECK(rng.bits(3, 5) == ((std::uint64_t{w[1]} << 32) | w[0]));
  CHECK(rng.uniform(3, 5) == static_cast<double>(rng.bits(3, 5) >> 11) * 0x1.0p-53);

  CHECK(CounterRng(7).uniform(1, 99) == rng.uniform(1, 99));
  CHECK(CounterRng(8).uniform(1, 99) != rng.uniform(1, 99));
  CHECK(rng.uniform(2, 99) != rng.uniform(1, 99));
  CHECK(rng.uniform(1, 98) != rng.uniform(1, 99));
  // 64-bit seeds, streams and indices all reach the counter/key.
  CHECK(CounterRng(1ull << 40).bits(0, 0) != CounterRng(0).bits(0, 0));
  CHECK(rng.bits(1ull << 40, 0) != rng.bits(0, 0));
  CHECK(rng.bits(0, 1ull << 40) != rng.bits(0, 0));
}

TEST_CASE("CounterRng distributions have the right moments", "[core][rng]") {
  const CounterRng rng(123);
  const int n = 200000;
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  std::vector<int> below_counts(7, 0);
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(0, i);
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    su += u;
    su2 += u * u;
    const double z = rng.normal(1, i);
    REQUIRE(std::isfinite(z));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
    ++below_counts[rng.below(7, 2, i)];
  }
  // Standard errors: uniform mean 0.00065, normal mean 0.0022, variance 0.0032, kurtosis 0.011.
  CHECK(su / n == Approx(0.5).margin(0.004));
  CHECK(su2 / n - (su / n) * (su / n) == Approx(1.0 / 12).margin(0.002));
  CHECK(sn / n == Approx(0.0).margin(0.012));
  CHECK(sn2 / n == Approx(1.0).margin(0.016));
  CHECK(sn4 / n == Approx(3.0).margin(0.06));
  for (int c : below_counts) CHECK(c == Approx(n / 7.0).epsilon(0.03));
}

TEST_CASE("Parallel draws equal serial draws for any thread count", "[core][rng][threads]") {
  const CounterRng rng(2024);
  const int n = 100000;
  std::vector<double> serial(n), parallel(n);
  for (int i = 0; i < n; ++i) serial[i] = rng.normal(5, i);
  for (int threads : {1, 2, 3}) {
    set_num_threads(threads);
    std::fill(parallel.begin(), parallel.end(), 0.0);
#pragma omp parallel for schedule(dynamic, 997)
    for (int i = n - 1; i >= 0; --i) parallel[i] = rng.normal(5, i);  // reverse, interleaved order
    CHECK(parallel == serial);
  }
  set_num_threads(2);
}

TEST_CASE("Initialisers have the variances of He and Glorot", "[core][init]") {
  const CounterRng rng(1);
  const std::size_t fan_in = 784, fan_out = 256;
  Tensor<double> w(Shape{fan_out, fan_in});  // 200,704 draws: the variance is known to ~0.3%
  auto stats = [&] {
    double s = 0, s2 = 0, lo = 1e9, hi = -1e9;
    for (double v : w) {
      s += v;
      s2 += v * v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    const double n = double(w.size());
    return std::array<double, 4>{s / n, s2 / n - (s / n) * (s / n), lo, hi};
  };
  he_normal(w.view(), fan_in, rng, 0);
  auto st = stats();
  CHECK(st[0] == Approx(0).margin(0.0003));
  CHECK(st[1] == Approx(2.0 / fan_in).epsilon(0.02));

  he_uniform(w.view(), fan_in, rng, 0);
  st = stats();
  const double he_bound = std::sqrt(6.0 / fan_in);
  CHECK(st[1] == Approx(2.0 / fan_in).epsilon(0.02));
  CHECK(st[2] >= -he_bound);
  CHECK(st[3] < he_bound);
  CHECK(st[3] > 0.99 * he_bound);

  glorot_normal(w.view(), fan_in, fan_out, rng, 0);
  CHECK(stats()[1] == Approx(2.0 / (fan_in + fan_out)).epsilon(0.02));
  glorot_uniform(w.view(), fan_in, fan_out, rng, 0);
  st = stats();
  CHECK(st[1] == Approx(2.0 / (fan_in + fan_out)).epsilon(0.02));
  CHECK(st[3] < std::sqrt(6.0 / (fan_in + fan_out)));

  // The same (seed, stream) gives the same weights; another stream gives others.
  Tensor<float> a(Shape{10, 10}), b(Shape{10, 10}), c(Shape{10, 10});
  he_normal(a.view(), 10, rng, 3);
  he_normal(b.view(), 10, rng, 3);
  he_normal(c.view(), 10, rng, 4);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));
  CHECK(!std::equal(a.begin(), a.end(), c.begin()));
  CHECK_THROWS_WITH(he_normal(a.view(), 0, rng, 0),
                    "he_normal: fan_in and fan_out must be positive, got 0 and 1");
}

TEST_CASE("Thread count is settable and validated", "[core][threads]") {
  CHECK_THROWS_WITH(set_num_threads(0), "set_num_threads: need 1 to 1024 threads, got 0");
  // 100000 threads crashed inside libgomp under a process limit; now a clear error, nothing changed.
  CHECK_THROWS_WITH(set_num_threads(100000), "set_num_threads: need 1 to 1024 threads, got 100000");
  set_num_threads(1);
  CHECK(num_threads() == 1);
  set_num_threads(2);
  CHECK(num_threads() == (has_openmp() ? 2 : 1));
}

TEST_CASE("version.hpp agrees with the CMake project version", "[core]") {
  std::ifstream cmake(std::string(TINYDL_TEST_DATA_DIR) + "/../CMakeLists.txt");
  REQUIRE(cmake.good());
  const std::string text((std::istreambuf_iterator<char>(cmake)), std::istreambuf_iterator<char>());
  const std::string key = "project(tinydl VERSION ";
  const auto at = text.find(key);
  REQUIRE(at != std::string::npos);
  const auto begin = at + key.size();
  CHECK(text.substr(begin, text.find(' ', begin) - begin) == version_string);
}

TEST_CASE("README's minimal example is examples/minimal.cpp, verbatim", "[docs]") {
  auto read = [](const std::string& path) {
    std::ifstream in(std::string(TINYDL_TEST_DATA_DIR) + "/../" + path);
    REQUIRE(in.good());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string example = read("examples/minimal.cpp");
  CHECK(read("README.md").find("```cpp\n" + example + "```") != std::string::npos);
}

TEST_CASE("docs/distributed.md's example is examples/data_parallel.cpp, verbatim", "[docs]") {
  auto read = [](const std::string& path) {
    std::ifstream in(std::string(TINYDL_TEST_DATA_DIR) + "/../" + path);
    REQUIRE(in.good());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  CHECK(read("docs/distributed.md").find("```cpp\n" + read("examples/data_parallel.cpp") + "```") !=
        std::string::npos);
}

TEST_CASE("Every C++ block of docs/api.md appears in an example program", "[docs]") {
  auto read = [](const std::string& path) {
    std::ifstream in(std::string(TINYDL_TEST_DATA_DIR) + "/../" + path);
    REQUIRE(in.good());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  // Compare line by line with leading spaces removed: the guide shows blocks dedented.
  auto strip = [](const std::string& text) {
    std::string out, line;
    std::istringstream lines(text);
    while (std::getline(lines, line))
      out += line.substr(std::min(line.find_first_not_of(' '), line.size())) + "\n";
    return out;
  };
  const std::string examples = strip(read("examples/api_tour.cpp")) + strip(read("examples/minimal.cpp"));
  const std::string guide = read("docs/api.md");
  // Blocks are read line by line, as CommonMark does: a fence is a line of its own, "```" or
  // "```cpp". A fence glued to the end of a code line does not close the block in a renderer,
  // so it is an error here too.
  std::istringstream lines(guide);
  std::string line, block;
  std::size_t blocks = 0, number = 0;
  bool in_block = false, in_cpp = false;
  while (std::getline(lines, line)) {
    ++number;
    const bool fence = line.rfind("```", 0) == 0;
    INFO("docs/api.md:" << number << ": " << line);
    CHECK((line.find("```") == std::string::npos || fence));  // no fence after other text
    if (!fence) {
      if (in_cpp) block += line + "\n";
      continue;
    }
    if (!in_block) {
      in_block = true;
      in_cpp = line == "```cpp";
      block.clear();
      continue;
    }
    CHECK(line == "```");  // a closing fence carries no info string
    in_block = false;
    if (!in_cpp || block.find("#include <tinydl/tinydl.hpp>") == 0) continue;  // the one-line include
    ++blocks;
    INFO(block);
    CHECK(examples.find(strip(block)) != std::string::npos);
  }
  CHECK_FALSE(in_block);  // every block closed
  CHECK(blocks >= 7);
}

TEST_CASE("The #includes of include/tinydl/ follow the dependency rule", "[docs][architecture]") {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(TINYDL_TEST_DATA_DIR) / "..";
  // The rule, as docs/architecture.md writes it: a ```dependencies block of "folder: folders".
  std::ifstream doc(root / "docs" / "architecture.md");
  REQUIRE(doc.good());
  std::map<std::string, std::set<std::string>> allowed;
  bool in_rule = false;
  for (std::string line; std::getline(doc, line);) {
    if (line == "```dependencies") {
      in_rule = true;
    } else if (in_rule && line.rfind("```", 0) == 0) {
      break;
    } else if (in_rule) {
      std::istringstream words(line);
      std::string folder, used;
      words >> folder;
      REQUIRE(folder.size() > 1);
      REQUIRE(folder.back() == ':');
      folder.pop_back();
      auto& mine = allowed[folder];
      while (words >> used) mine.insert(used);
    }
  }
  REQUIRE(allowed.size() >= 10);  // the block was found and read
  std::size_t includes = 0;
  for (const auto& folder : fs::directory_iterator(root / "include" / "tinydl")) {
    if (!folder.is_directory()) continue;
    const std::string name = folder.path().filename().string();
    INFO("include/tinydl/" << name << "/ is not in the rule of docs/architecture.md");
    REQUIRE(allowed.count(name) == 1);
    for (const auto& header : fs::directory_iterator(folder.path())) {
      std::ifstream in(header.path());
      std::size_t number = 0;
      for (std::string line; std::getline(in, line);) {
        ++number;
        const std::string prefix = "#include \"tinydl/";
        if (line.rfind(prefix, 0) != 0) continue;
        ++includes;
        const std::string target = line.substr(prefix.size(), line.find('"', prefix.size()) - prefix.size());
        const std::size_t slash = target.find('/');
        const std::string used = slash == std::string::npos ? target : target.substr(0, slash);
        INFO(name << "/" << header.path().filename().string() << ":" << number << ": " << line);
        if (slash == std::string::npos) {
          CHECK(target == "version.hpp");  // the one top-level header a folder may include
        } else {
          CHECK((used == name || allowed[name].count(used) == 1));
        }
      }
    }
  }
  CHECK(includes > 100);
}
