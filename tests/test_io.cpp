// Tests of include/tinydl/io: the safetensors reader and writer (round trip, the PyTorch files,
// every kind of malformed file) and atomic file writes.
#include "test_support.hpp"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <thread>

#if defined(__unix__)
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

using namespace tinydl;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

/// The bytes of a safetensors file with this header text and `data_bytes` bytes of data.
std::vector<char> make_file(const std::string& header, std::size_t data_bytes) {
  std::vector<char> bytes(8 + header.size() + data_bytes, 0);
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  return bytes;
}

std::string parse_error(std::vector<char> bytes) {
  try {
    io::SafetensorsFile::parse(std::move(bytes), "bad.safetensors");
  } catch (const IoError& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("safetensors round trip keeps names, dtypes, shapes, values and metadata", "[io][safetensors]") {
  const Tensor<float> a = test::random_tensor<float>(Shape{2, 3, 4}, 31);
  const Tensor<double> b = test::random_tensor<double>(Shape{5}, 32);
  const Tensor<std::int64_t> c(Shape{3}, {-1, 0, std::int64_t{1} << 40});
  io::SafetensorsWriter writer;
  writer.add("layer.0.weight", a);
  writer.add("b", b);
  writer.add("counts", c.view());
  const std::int64_t scalar = 7;
  writer.add_raw("num_batches_tracked", io::Dtype::I64, {}, &scalar, sizeof scalar);
  writer.set_metadata("format", "pt");

  const fs::path path = test::temporary_directory("io-roundtrip") / "file.safetensors";
  writer.write(path.string());
  const auto file = io::SafetensorsFile::load(path.string());
  CHECK(file.metadata().at("format") == "pt");
  CHECK(file.names() == std::vector<std::string>{"layer.0.weight", "b", "counts", "num_batches_tracked"});
  CHECK(file.info("layer.0.weight").dtype == io::Dtype::F32);
  CHECK(file.info("b").dtype == io::Dtype::F64);
  CHECK(file.info("num_batches_tracked").shape.empty());
  const Tensor<float> a2 = file.read_as<float>("layer.0.weight");
  CHECK(a2.shape() == a.shape());
  CHECK(std::equal(a.begin(), a.end(), a2.begin()));
  const Tensor<double> b2 = file.read_as<double>("b");
  CHECK(std::equal(b.begin(), b.end(), b2.begin()));
  const Tensor<std::int64_t> c2 = file.read_as<std::int64_t>("counts");
  CHECK(std::equal(c.begin(), c.end(), c2.begin()));
  CHECK(file.read_as<double>("num_batches_tracked").shape() == Shape{1});
  CHECK(file.read_as<double>("num_batches_tracked")[0] == 7.0);
  // The header is padded so that data starts 8-byte aligned.
  const auto bytes = io::read_file(path.string());
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = header << 8 | static_cast<unsigned char>(bytes[i]);
  CHECK(header % 8 == 0);
}

TEST_CASE("safetensors reads PyTorch's files: F64, I64, scalars and metadata", "[io][safetensors][golden]") {
  const auto dense = test::golden("dense");
  CHECK(dense.metadata().at("layer") == "Dense");
  CHECK(dense.info("weight").shape == std::vector<std::uint64_t>{6, 8});
  CHECK(dense.info("weight").dtype == io::Dtype::F64);
  const auto model = test::golden("model_deeper_cnn");
  CHECK(model.info("labels").dtype == io::Dtype::I64);
  CHECK(model.info("param.1.num_batches_tracked").shape.empty());
  CHECK(model.read_as<float>("x").shape() == Shape{8, 1, 28, 28});
  const Tensor<std::int64_t> labels = model.read_as<std::int64_t>("labels");
  for (auto label : labels) CHECK((label >= 0 && label < 10));
}

TEST_CASE("read_into checks the shape and leaves the target unchanged on mismatch", "[io][safetensors]") {
  const auto dense = test::golden("dense");
  Tensor<double> wrong(Shape{8, 6}, 3.0);
  CHECK_THROWS_WITH(dense.read_into("weight", wrong.view()),
                    Contains("tensor 'weight' has shape [6, 8], expected (8, 6)"));
  for (double v : wrong) CHECK(v == 3.0);
  CHECK_THROWS_WITH(dense.info("nope"), Contains("no tensor named 'nope'"));
}

TEST_CASE("safetensors rejects each kind of malformed file with a clear error", "[io][safetensors][errors]") {
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(parse_error(make_file(good, 8)) == "no error");

  // truncated: fewer than 8 bytes, data cut short
  CHECK_THROWS_WITH(io::SafetensorsFile::parse({'\x01', '\x00'}, "bad.safetensors"),
                    "bad.safetensors: truncated: 2 bytes, not even the 8-byte header length");
  CHECK_THAT(parse_error(make_file(good, 5)), Contains("lie outside the 5 bytes of data (truncated file?)"));
  // header length past the end, or absurd
  auto past_end = make_file(good, 8);
  past_end[0] = static_cast<char>(200);
  CHECK_THAT(parse_error(past_end), Contains("header length 200 runs past the end"));
  auto huge = make_file(good, 8);
  huge[6] = 1;
  CHECK_THAT(parse_error(huge), Contains("is larger than the limit of 100000000 bytes"));
  // bad JSON
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32",)", 8)), Contains("not well-formed JSON"));
  CHECK_THAT(parse_error(make_file(R"([1, 2])", 0)), Contains("header is not a JSON object"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8)),
             Contains("tensor 'a': unexpected field 'x'"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)),
             Contains("shape entries must be non-negative integers"));
  CHECK_THAT(parse_error(make_file(R"({"__metadata__":{"k":1}})", 0)),
             Contains("__metadata__ entry 'k' is not a string"));
  // unknown dtype
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F128","shape":[2],"data_offsets":[0,8]}})", 8)),
             Contains("tensor 'a': unknown dtype \"F128\""));
  // shape / size mismatch
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8)),
             Contains("shape [2] of F64 needs 16 bytes but data_offsets span 8"));
  CHECK_THAT(parse_error(make_file(
                 R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8)),
             Contains("overflows"));
  // offsets overlapping, outside, reversed, with holes, trailing garbage
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                   12)),
             Contains("tensor 'b' bytes [4, 12) overlap tensor 'a'"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8)),
             Contains("lie outside the 8 bytes of data"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8)),
             Contains("end before they begin"));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12)),
             Contains("bytes [0, 4) of the data belong to no tensor"));
  CHECK_THAT(parse_error(make_file(good, 11)), Contains("3 bytes of trailing garbage after the last tensor"));

  // values of the wrong JSON type, wherever they are
  const std::string offsets = R"("data_offsets":[0,8])";
  for (const char* entry : {R"(5)", R"([1, {"x": 2}])", R"("F32")"})
    CHECK_THAT(parse_error(make_file(std::string(R"({"a":)") + entry + "}", 8)),
               Contains("tensor 'a': entry is not a JSON object"));
  for (const char* dtype : {R"(["F32"])", R"({"F": 32})", "32", "null"})
    CHECK_THAT(parse_error(make_file(
                   std::string(R"({"a":{"dtype":)") + dtype + R"(,"shape":[2],)" + offsets + "}}", 8)),
               Contains("missing or non-string \"dtype\""));
  for (const char* shape : {R"({"x": 2})", "2", R"("2")"})
    CHECK_THAT(parse_error(make_file(
                   std::string(R"({"a":{"dtype":"F32","shape":)") + shape + "," + offsets + "}}", 8)),
               Contains("missing or non-array \"shape\""));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32",)" + offsets + "}}", 8)),
             Contains("missing or non-array \"shape\""));
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[2.5],)" + offsets + "}}", 8)),
             Contains("shape entries must be non-negative integers"));
  for (const char* bad : {"[0]", "[0,8,9]", "[0,-8]", R"("0,8")", R"({"begin": 0})"})
    CHECK_THAT(parse_error(make_file(
                   std::string(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)") + bad + "}}", 8)),
               Contains("\"data_offsets\" must be two non-negative integers"));
  CHECK_THAT(parse_error(make_file(R"({"__metadata__":["k"]})", 0)),
             Contains("__metadata__ is not a map of strings"));
  CHECK_THAT(parse_error(make_file(R"({"__metadata__":"k"})", 0)),
             Contains("__metadata__ is not a map of strings"));
  CHECK_THAT(parse_error(make_file(R"({"__metadata__":{"k":{"v":"w"}}})", 0)),
             Contains("__metadata__ entry 'k' is not a string"));
  // nothing nests deeper than the format, and no shape is absurdly long
  CHECK_THAT(parse_error(make_file(R"({"a":{"dtype":"F32","shape":[[2]],)" + offsets + "}}", 8)),
             Contains("header nests an array 4 levels deep; a safetensors header has at most 3"));
  std::string long_shape = R"({"a":{"dtype":"F32","shape":[)";
  for (int i = 0; i < 65; ++i) long_shape += i ? ",1" : "1";
  CHECK_THAT(parse_error(make_file(long_shape + "]," + offsets + "}}", 8)),
             Contains("tensor 'a': shape has more than 64 dimensions"));
  // The header is read as events, not as a JSON tree: 20 MB of nested arrays, which used to
  // become a tree of 20 million arrays (~1 GB), stop at the fourth level.
  {
    const auto peak_kib = [] {
      rusage usage{};
      getrusage(RUSAGE_SELF, &usage);
      return usage.ru_maxrss;
    };
    const long before = peak_kib();
    const std::string deep = R"({"a":)" + std::string(20'000'000, '[') + "}";
    CHECK_THAT(parse_error(make_file(deep, 0)), Contains("header nests an array 4 levels deep"));
    CHECK(peak_kib() - before < 150 * 1024);  // KiB: the file and its copies, not a tree
  }

  // A missing file names itself.
  CHECK_THROWS_WITH(io::SafetensorsFile::load("/nonexistent/model.safetensors"),
                    "/nonexistent/model.safetensors: no such file");
  CHECK_THROWS_AS(io::SafetensorsFile::load("/nonexistent/model.safetensors"), IoError);
}

TEST_CASE("Every truncation of a real file is rejected, never a crash", "[io][safetensors][errors]") {
  const auto bytes = io::read_file(std::string(TINYDL_TEST_DATA_DIR) + "/golden/dense.safetensors");
  for (std::size_t size = 0; size < bytes.size(); size += 7) {
    std::vector<char> cut(bytes.begin(), bytes.begin() + static_cast<long>(size));
    CHECK_THROWS_AS(io::SafetensorsFile::parse(std::move(cut), "cut"), IoError);
  }
}

TEST_CASE("The writer refuses duplicate names and wrong byte counts", "[io][safetensors][errors]") {
  io::SafetensorsWriter writer;
  const Tensor<float> t(Shape{2});
  writer.add("a", t);
  CHECK_THROWS_WITH(writer.add("a", t), "safetensors: tensor 'a' added twice");
  const float one = 1;
  CHECK_THROWS_WITH(writer.add_raw("b", io::Dtype::F32, {2}, &one, 4), Contains("needs 8 bytes, got 4"));
  CHECK_THROWS_AS(writer.add("__metadata__", t), ConfigError);
}

TEST_CASE("Atomic writes replace the file whole and leave no temporary behind", "[io][file]") {
  const fs::path dir = test::temporary_directory("io-atomic");
  const std::string path = (dir / "best.safetensors").string();
  io::write_file_atomically(path, std::vector<char>{'o', 'l', 'd'});
  io::write_file_atomically(path, std::vector<char>{'n', 'e', 'w', '!'});
  CHECK(io::read_file(path) == std::vector<char>{'n', 'e', 'w', '!'});
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  // An unwritable destination is an IoError and the old file stays.
  CHECK_THROWS_AS(io::write_file_atomically((dir / "no-such-dir" / "x").string(), std::vector<char>{'x'}),
                  IoError);
  CHECK(io::read_file(path).size() == 4);
  CHECK_THROWS_WITH(io::read_file(dir.string()), Contains("not a regular file"));
  CHECK_THROWS_WITH(io::read_file(path, 2), Contains("4 bytes is more than the limit of 2 bytes"));
}

#if defined(__unix__)
TEST_CASE("Temporaries of killed writers are removed by the next write; a live writer's stay", "[io][file]") {
  const fs::path dir = test::temporary_directory("io-stale-temporaries");
  const std::string path = (dir / "ckpt.safetensors").string();
  // A process that has exited: its pid names no running process (it was reaped just now).
  const pid_t child = fork();
  if (child == 0) _exit(0);
  REQUIRE(child > 0);
  waitpid(child, nullptr, 0);
  const std::string dead = path + ".tmp-" + std::to_string(child) + "-0";
  const std::string live = path + ".tmp-" + std::to_string(getpid()) + "-999999";  // not our next name
  const std::string other = (dir / "other.safetensors.tmp-1-0").string();          // another file's
  for (const auto& f : {dead, live, other}) io::write_file_atomically(f, std::vector<char>{'x'});
  io::write_file_atomically(path, std::vector<char>{'o', 'k'});
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));
  CHECK(io::read_file(path) == std::vector<char>{'o', 'k'});
}
#endif

TEST_CASE("Zero-element tensors read back, in their own dtype and converted", "[io][safetensors]") {
  // A shape [0] is allowed by the format; the reader must not hand memcpy a null pointer.
  io::SafetensorsWriter writer;
  writer.add_raw("empty_f32", io::Dtype::F32, {0}, nullptr, 0);
  writer.add_raw("empty_i64", io::Dtype::I64, {0}, nullptr, 0);
  const auto file = io::SafetensorsFile::parse(writer.serialize(), "empty.safetensors");
  CHECK(file.read_as<float>("empty_f32").size() == 0);
  CHECK(file.read_as<double>("empty_i64").size() == 0);
}

TEST_CASE("A value out of the integer range it is read as is an IoError, the target unchanged",
          "[io][safetensors][errors]") {
  // static_cast<uint8_t>(-1.5f) or of NaN is undefined behaviour; the reader checks every value
  // before it writes any.
  io::SafetensorsWriter writer;
  const float floats[3] = {1.0f, 2.9f, -1.5f};
  writer.add_raw("f32", io::Dtype::F32, {3}, floats, sizeof(floats));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  writer.add_raw("nan", io::Dtype::F64, {1}, &nan, sizeof(nan));
  const std::int64_t big = std::int64_t{1} << 40;
  writer.add_raw("big", io::Dtype::I64, {1}, &big, sizeof(big));
  const auto file = io::SafetensorsFile::parse(writer.serialize(), "ranges.safetensors");
  Tensor<std::uint8_t> bytes(Shape{3}, 7);
  CHECK_THROWS_WITH(file.read_into("f32", bytes.view()),
                    Contains("tensor 'f32' element 2 (F32) is out of range"));
  for (auto v : bytes) CHECK(v == 7);
  Tensor<std::int32_t> one(Shape{1});
  CHECK_THROWS_AS(file.read_into("nan", one.view()), IoError);
  CHECK_THROWS_AS(file.read_into("big", one.view()), IoError);
  Tensor<std::int64_t> wide(Shape{1});
  file.read_into("big", wide.view());
  CHECK(wide[0] == big);
  Tensor<float> as_float(Shape{3});
  file.read_into("f32", as_float.view());  // floats to float: no range to check
  CHECK(as_float[2] == -1.5f);
  Tensor<std::int32_t> truncated(Shape{3});
  file.read_into("f32", truncated.view());  // in range: truncated toward zero, as static_cast
  CHECK(truncated[1] == 2);
  CHECK(truncated[2] == -1);
}

TEST_CASE("A checkpointing process killed at random moments leaves a whole checkpoint, 40 times over",
          "[io][file][crash]") {
  // A child saves the same model again and again, its weights all equal to a counter that says
  // which save it is. Once its first save is done (it says so through a pipe, so a slow machine
  // cannot make the test vacuous), the parent waits a random 0.1-10 ms and kills it with SIGKILL,
  // 40 times: mostly in the middle of a later save. After each kill the checkpoint must load (no
  // torn file) and hold one of this round's saves whole (every weight equal). The killed
  // writer's temporary may stay, but the next writer removes it: they never pile up.
  const fs::path dir = test::temporary_directory("io-kill");
  const std::string path = (dir / "checkpoint.safetensors").string();
  Sequential<float> model;
  model.add(Flatten<float>()).add(Dense<float>(64)).add(Dense<float>(10));  // 17,098 values: a 68 KB file
  model.build(Shape{1, 16, 16});
  const auto fill = [&](float value) {
    for (const auto& p : model.parameters()) std::fill(p.value.begin(), p.value.end(), value);
  };
  std::mt19937 gen(7);
  for (int round = 1; round <= 40; ++round) {
    const float first = static_cast<float>(round * 100000);
    int saved[2];
    REQUIRE(::pipe(saved) == 0);
    std::cout.flush();
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // the writer: never returns, never runs the parent's exit handlers
      ::close(saved[0]);
      try {
        for (int k = 0; k < 99999; ++k) {
          fill(first + static_cast<float>(k));
          model.save(path);
          if (k == 0 && ::write(saved[1], "s", 1) != 1) ::_exit(4);
        }
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    ::close(saved[1]);
    char byte = 0;
    const bool first_save_done = ::read(saved[0], &byte, 1) == 1;  // blocks until then (or EOF)
    ::close(saved[0]);
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(100, 10000)(gen)));
    ::kill(child, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    INFO("round " << round);
    REQUIRE(first_save_done);
    REQUIRE(WIFSIGNALED(status));                              // killed while saving, not finished or failed
    const Sequential<float> loaded = load_model<float>(path);  // throws on a torn file
    const float value = loaded.parameters()[0].value[0];
    std::size_t mixed = 0;
    for (const auto& p : loaded.parameters())
      for (const float v : p.value) mixed += v != value;
    CHECK(mixed == 0);
    CHECK((value >= first && value < first + 100000));
    std::size_t temporaries = 0;
    for (const auto& entry : fs::directory_iterator(dir))
      temporaries += entry.path().filename().string().find(".tmp-") != std::string::npos;
    CHECK(temporaries <= 1);
  }
}
