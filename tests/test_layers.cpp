// Tests of include/tinydl/layers: finite-difference gradient checks in double for every layer,
// PyTorch parity with tests/golden (double to 1e-9, float to 1e-4), BatchNorm statistics, Dropout
// masks, shape errors and configs.
#include "test_support.hpp"

#include <cstring>
#include <memory>

using namespace tinydl;
using Catch::Matchers::Contains;

namespace {

/// Builds `layer` for `input` with seed 0 and sizes it for that batch.
template <typename T>
void build(Layer<T>& layer, const Shape& input, std::uint64_t seed = 0) {
  layer.build(input, CounterRng(seed), static_cast<std::uint64_t>(RngStream::init));
  layer.reserve(input[0]);
}

/// Copies tensor `name` of `file` into the layer's parameter `param_name`.
template <typename T>
void load_param(Layer<T>& layer, const io::SafetensorsFile& file, const std::string& name,
                const std::string& param_name) {
  file.read_into(name, test::param(layer, param_name).value);
}

template <typename T>
void zero_grads(Layer<T>& layer) {
  for (auto& p : layer.params())
    if (p.trainable()) std::fill(p.grad.begin(), p.grad.end(), T(0));
}

/// Runs forward and backward on the golden file's x and dy and compares y, dx and the parameter
/// gradients (d<name>) with the file, to the parity tolerance of T.
template <typename T>
void check_against_golden(Layer<T>& layer, const io::SafetensorsFile& file, Mode mode = Mode::train,
                          const std::string& y_name = "y") {
  const Tensor<T> x = file.read_as<T>("x");
  const Tensor<T> dy = file.read_as<T>("dy");
  Tensor<T> y(layer.output_shape(x.shape()));
  layer.forward(x.view(), y.view(), mode);
  CHECK(test::relative_error(y, file.read_as<double>(y_name)) <= test::parity_tolerance<T>());
  zero_grads(layer);
  Tensor<T> dx(x.shape());
  layer.backward(x.view(), y.view(), dy.view(), dx.view());
  CHECK(test::relative_error(dx, file.read_as<double>("dx")) <= test::parity_tolerance<T>());
  for (auto& p : layer.params()) {
    if (!p.trainable()) continue;
    INFO(file.source() << ": d" << p.name);
    const Tensor<double> expected = file.read_as<double>("d" + p.name);
    Tensor<T> actual(p.grad.shape());
    std::copy(p.grad.begin(), p.grad.end(), actual.begin());
    CHECK(test::relative_error(actual, expected) <= test::parity_tolerance<T>());
  }
}

std::size_t metadata_count(const io::SafetensorsFile& file, const std::string& key) {
  return static_cast<std::size_t>(std::stoul(file.metadata().at(key)));
}

}  // namespace

// ---- finite differences -----------------------------------------------------------------------

TEST_CASE("Dense backward matches finite differences", "[layers][dense][gradcheck]") {
  for (std::size_t batch : {1u, 3u}) {
    for (bool bias : {true, false}) {
      Dense<double> dense(5, bias);
      build(dense, Shape{batch, 7});
      test::check_gradients(dense, test::random_tensor<double>(Shape{batch, 7}, 1), Mode::train);
    }
  }
}

TEST_CASE("Conv2D backward matches finite differences for strides, paddings and kernel sizes",
          "[layers][conv2d][gradcheck]") {
  struct Case {
    Shape input;
    std::size_t filters;
    Size2d kernel, stride;
    Padding padding;
    bool bias;
  };
  const Case cases[] = {
      {Shape{2, 3, 7, 6}, 4, 3, 1, Padding::valid(), true},                      // valid 3x3
      {Shape{2, 2, 6, 6}, 3, 3, 1, Padding::same(), true},                       // same
      {Shape{1, 2, 9, 8}, 2, 5, 2, Padding(2), true},                            // stride 2, pad 2, 5x5
      {Shape{3, 4, 5, 5}, 3, 1, 1, Padding::valid(), true},                      // 1x1 (no im2col)
      {Shape{2, 1, 7, 9}, 2, Size2d(3, 2), Size2d(2, 1), Padding(1, 0), false},  // non-square, no bias
      {Shape{5, 2, 5, 5}, 2, 3, 1, Padding(1), true},          // more images than a gradient group
      {Shape{2, 1, 12, 12}, 3, 3, 1, Padding::same(), true},   // first layer: 9-wide patch, dot products
      {Shape{3, 2, 18, 18}, 2, 3, 1, Padding::valid(), true},  // 256 pixels: images in GEMMs of 2
      {Shape{2, 1, 24, 24}, 2, 3, 1, Padding::same(), true},   // 576 pixels: one image per GEMM
  };
  for (const Case& c : cases) {
    INFO("input " << c.input << ", kernel " << c.kernel.h << "x" << c.kernel.w << ", stride " << c.stride.h);
    Conv2D<double> conv(c.filters, c.kernel, c.stride, c.padding, c.bias);
    build(conv, c.input);
    test::check_gradients(conv, test::random_tensor<double>(c.input, 2), Mode::train);
  }
}

TEST_CASE("MaxPool2D backward matches finite differences", "[layers][maxpool][gradcheck]") {
  MaxPool2D<double> pool2(2);
  build(pool2, Shape{2, 3, 7, 6});
  test::check_gradients(pool2, test::random_tensor<double>(Shape{2, 3, 7, 6}, 3), Mode::train);
  MaxPool2D<double> pool3(3, 2, 1);  // overlapping windows with padding
  build(pool3, Shape{1, 2, 8, 7});
  test::check_gradients(pool3, test::random_tensor<double>(Shape{1, 2, 8, 7}, 4), Mode::train);
}

namespace {

/// Checks that `fused.backward_through_relu` writes, bit for bit, what `alone.backward` followed by
/// a ReLU's backward writes (same layer, same weights), and the same parameter gradients: signed
/// zeros and NaN included.
/// `with_nan`: one input is NaN (a layer that mixes the whole batch, as BatchNorm, then has NaN
/// everywhere, and no -0 is left to see).
template <typename L>
void check_relu_backward_fusion(L fused, L alone, const Shape& shape, bool with_nan = true) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ReLU<float> relu;
  build(fused, shape);
  build(alone, shape);
  build(relu, shape);
  Tensor<float> z = test::random_tensor<float>(shape, 5);
  for (std::size_t i = 0; i < z.size(); i += 7) z[i] = i % 2 ? -0.0f : 0.0f;  // ties at zero
  if (with_nan) z[3] = nan;
  Tensor<float> x(shape), y(fused.output_shape(shape));
  relu.forward(z.view(), x.view(), Mode::train);
  fused.forward(x.view(), y.view(), Mode::train);
  alone.forward(x.view(), y.view(), Mode::train);
  Tensor<float> dy = test::random_tensor<float>(y.shape(), 6);  // negative ones: -0 after the mask
  Tensor<float> dx(shape), dz_expected(shape), dz(shape, 9.0f);
  zero_grads(fused);
  zero_grads(alone);
  alone.backward(x.view(), y.view(), dy.view(), dx.view());
  relu.backward(z.view(), x.view(), dx.view(), dz_expected.view());
  fused.backward_through_relu(x.view(), y.view(), dy.view(), dz.view());
  CHECK(std::memcmp(dz.data(), dz_expected.data(), dz.size() * sizeof(float)) == 0);
  if (!std::all_of(dz.begin(), dz.end(), [](float v) { return std::isnan(v); }))
    CHECK(std::count_if(dz.begin(), dz.end(), [](float v) { return v == 0 && std::signbit(v); }) > 0);
  auto fused_params = fused.params(), alone_params = alone.params();
  for (std::size_t i = 0; i < fused_params.size(); ++i)
    if (fused_params[i].trainable())  // (running statistics have no gradient)
      CHECK(std::memcmp(fused_params[i].grad.data(), alone_params[i].grad.data(),
                        fused_params[i].grad.size() * sizeof(float)) == 0);
}

}  // namespace

TEST_CASE("A MaxPool2D or Conv2D after a ReLU does the ReLU's backward too, bit for bit",
          "[layers][maxpool][conv2d][fusion]") {
  // The model skips a ReLU's backward when such a layer follows it (Sequential::backward). With
  // overlapping windows, a position that wins twice sums before it is masked.
  check_relu_backward_fusion(MaxPool2D<float>(2), MaxPool2D<float>(2), Shape{2, 3, 8, 6});
  check_relu_backward_fusion(MaxPool2D<float>(3, 2, 1), MaxPool2D<float>(3, 2, 1), Shape{2, 2, 9, 7});
  check_relu_backward_fusion(MaxPool2D<float>(3, 1), MaxPool2D<float>(3, 1), Shape{1, 2, 6, 6});
  // image groups of 4 (small maps) and of 1, strided and pointwise
  check_relu_backward_fusion(Conv2D<float>(5, 3, 1, Padding::same()), Conv2D<float>(5, 3, 1, Padding::same()),
                             Shape{6, 3, 8, 8});
  check_relu_backward_fusion(Conv2D<float>(4, 3, 2, Padding(1)), Conv2D<float>(4, 3, 2, Padding(1)),
                             Shape{3, 2, 30, 30});
  check_relu_backward_fusion(Conv2D<float>(3, 1), Conv2D<float>(3, 1), Shape{2, 4, 5, 5});
  ReLU<float> relu;
  build(relu, Shape{1, 4});
  Tensor<float> x(Shape{1, 4}), y(Shape{1, 4});
  relu.forward(x.view(), y.view(), Mode::train);
  CHECK(relu.backward_is_relu());
  CHECK_FALSE(relu.absorbs_relu_backward());
  CHECK_THROWS_WITH(relu.backward_through_relu(x.view(), y.view(), y.view(), x.view()),
                    Contains("cannot do a ReLU's backward"));
  CHECK_FALSE(LeakyReLU<float>(0.1).backward_is_relu());
}

TEST_CASE("A Conv2D pools its output in its output stage, bit for bit as the layers one by one",
          "[layers][conv2d][maxpool][fusion]") {
  // image groups of 4 (6x6 maps), 2 (16x16) and 1 (24x24); the 2x2 loop and the general one
  struct Case {
    Shape input;
    MaxPool2D<float> pool;
  };
  for (const Case& c :
       {Case{Shape{5, 2, 8, 8}, MaxPool2D<float>(2)}, Case{Shape{3, 3, 18, 18}, MaxPool2D<float>(3, 2, 1)},
        Case{Shape{2, 1, 26, 26}, MaxPool2D<float>(2)}}) {
    Conv2D<float> conv(4, 3);
    ReLU<float> relu;
    MaxPool2D<float> pool = c.pool;
    build(conv, c.input);
    const Shape conv_out = conv.output_shape(c.input);
    build(relu, conv_out);
    build(pool, conv_out);
    const Tensor<float> x = test::random_tensor<float>(c.input, 8);
    Tensor<float> z(conv_out), r(conv_out), expected(pool.output_shape(conv_out));
    conv.forward(x.view(), z.view(), Mode::eval);
    relu.forward(z.view(), r.view(), Mode::eval);
    pool.forward(r.view(), expected.view(), Mode::eval);

    OutputStage<float> stage;  // (the folding hooks are public on Layer, as the model calls them)
    Layer<float>&conv_layer = conv, &relu_layer = relu, &pool_layer = pool;
    REQUIRE(conv_layer.begin_output_stage(stage));
    REQUIRE(relu_layer.fold_into(stage));
    REQUIRE(pool_layer.fold_into(stage));
    CHECK_FALSE(pool_layer.fold_into(stage));  // one pool per stage, and nothing after it but Dropout
    CHECK_FALSE(relu_layer.fold_into(stage));
    CHECK(conv_layer.output_shape_with_stage(x.shape(), stage) == expected.shape());
    Tensor<float> y(expected.shape(), 7.0f);
    conv.forward_with_stage(x.view(), y.view(), stage);
    CHECK(std::memcmp(y.data(), expected.data(), y.size() * sizeof(float)) == 0);
    Tensor<float> unpooled(conv_out);
    CHECK_THROWS_AS(conv.forward_with_stage(x.view(), unpooled.view(), stage), ShapeError);
  }
  Dense<float> dense(3);  // a Dense layer's output has no planes to pool
  build(dense, Shape{2, 4});
  OutputStage<float> stage;
  MaxPool2D<float> pool(2);
  REQUIRE(static_cast<Layer<float>&>(dense).begin_output_stage(stage));
  CHECK_FALSE(static_cast<Layer<float>&>(pool).fold_into(stage));
}

TEST_CASE("AveragePooling2D and GlobalAveragePooling2D backward match finite differences",
          "[layers][avgpool][gradcheck]") {
  for (const bool count_pad : {true, false}) {
    AveragePooling2D<double> pool2(2, 0, 0, count_pad);
    build(pool2, Shape{2, 3, 7, 6});
    test::check_gradients(pool2, test::random_tensor<double>(Shape{2, 3, 7, 6}, 3), Mode::train);
    AveragePooling2D<double> pool3(3, 2, 1, count_pad);  // overlapping windows with padding
    build(pool3, Shape{1, 2, 8, 7});
    test::check_gradients(pool3, test::random_tensor<double>(Shape{1, 2, 8, 7}, 4), Mode::train);
  }
  for (const bool keep : {false, true}) {
    GlobalAveragePooling2D<double> gap(keep);
    build(gap, Shape{3, 4, 5, 7});
    test::check_gradients(gap, test::random_tensor<double>(Shape{3, 4, 5, 7}, 5), Mode::train);
  }
}

TEMPLATE_TEST_CASE("AveragePooling2D and GlobalAveragePooling2D match PyTorch", "[layers][avgpool][golden]",
                   float, double) {
  // tests/reference/avgpool_*.safetensors, from tests/reference/make_layers.py (PyTorch 1.13)
  for (const char* name :
       {"avgpool2", "avgpool3_stride2_pad1", "avgpool3_stride2_pad1_exclude", "global_avgpool"}) {
    INFO(name);
    const auto file =
        io::SafetensorsFile::load(std::string(TINYDL_TEST_DATA_DIR) + "/reference/" + name + ".safetensors");
    std::unique_ptr<Layer<TestType>> layer;
    if (std::string(name) == "global_avgpool")
      layer = std::make_unique<GlobalAveragePooling2D<TestType>>();
    else
      layer = std::make_unique<AveragePooling2D<TestType>>(
          metadata_count(file, "kernel"), metadata_count(file, "stride"), metadata_count(file, "padding"),
          file.metadata().at("count_include_pad") == "True");
    build(*layer, file.read_as<TestType>("x").shape());
    check_against_golden(*layer, file);
  }
}

TEST_CASE("BatchNorm backward matches finite differences in train and eval mode",
          "[layers][batchnorm][gradcheck]") {
  for (const Shape& input : {Shape{6, 4}, Shape{3, 2, 4, 5}}) {
    for (Mode mode : {Mode::train, Mode::eval}) {
      INFO("input " << input << (mode == Mode::train ? " train" : " eval"));
      BatchNorm<double> bn;
      build(bn, input);
      // Non-trivial affine parameters and running statistics.
      auto weight = test::param(bn, "weight").value, bias = test::param(bn, "bias").value;
      auto mean = test::param(bn, "running_mean").value, var = test::param(bn, "running_var").value;
      for (std::size_t c = 0; c < weight.size(); ++c) {
        weight[c] = 0.5 + 0.3 * c;
        bias[c] = 0.1 * c - 0.2;
        mean[c] = 0.05 * c;
        var[c] = 1.5 + 0.2 * c;
      }
      test::check_gradients(bn, test::random_tensor<double>(input, 5, -2, 3), mode);
    }
  }
}

TEST_CASE("Dropout backward matches finite differences with a fixed mask", "[layers][dropout][gradcheck]") {
  Dropout<double> dropout(0.4);
  build(dropout, Shape{4, 10});
  test::check_gradients(dropout, test::random_tensor<double>(Shape{4, 10}, 6), Mode::train,
                        [&] { dropout.set_step(3); });
}

TEST_CASE("Flatten, activations and Softmax backward match finite differences", "[layers][gradcheck]") {
  std::vector<std::unique_ptr<Layer<double>>> layers;
  layers.push_back(std::make_unique<Flatten<double>>());
  layers.push_back(std::make_unique<ReLU<double>>());
  layers.push_back(std::make_unique<LeakyReLU<double>>(0.2));
  layers.push_back(std::make_unique<Sigmoid<double>>());
  layers.push_back(std::make_unique<Tanh<double>>());
  for (auto& layer : layers) {
    INFO(layer->type());
    build(*layer, Shape{2, 3, 4, 5});
    test::check_gradients(*layer, test::random_tensor<double>(Shape{2, 3, 4, 5}, 8, -3, 3), Mode::train);
  }
  Softmax<double> softmax;
  build(softmax, Shape{3, 6});
  test::check_gradients(softmax, test::random_tensor<double>(Shape{3, 6}, 9, -3, 3), Mode::train);
}

// ---- PyTorch parity -----------------------------------------------------------------------------

TEMPLATE_TEST_CASE("Dense matches PyTorch's nn.Linear", "[layers][dense][golden]", float, double) {
  const auto file = test::golden("dense");
  Dense<TestType> dense(metadata_count(file, "units"));
  build(dense, file.read_as<TestType>("x").shape());
  load_param(dense, file, "weight", "weight");
  load_param(dense, file, "bias", "bias");
  check_against_golden(dense, file);
}

TEMPLATE_TEST_CASE("Conv2D matches PyTorch's nn.Conv2d", "[layers][conv2d][golden]", float, double) {
  for (const char* name : {"conv_valid", "conv_same_pad1", "conv_stride2_k5_pad2", "conv_1x1"}) {
    INFO(name);
    const auto file = test::golden(name);
    Conv2D<TestType> conv(metadata_count(file, "filters"), metadata_count(file, "kernel"),
                          metadata_count(file, "stride"), Padding(metadata_count(file, "padding")));
    build(conv, file.read_as<TestType>("x").shape());
    CHECK(test::param(conv, "weight").value.shape() == Shape(file.read_as<TestType>("weight").shape()));
    load_param(conv, file, "weight", "weight");
    load_param(conv, file, "bias", "bias");
    check_against_golden(conv, file);
  }
}

TEMPLATE_TEST_CASE("MaxPool2D matches PyTorch's nn.MaxPool2d", "[layers][maxpool][golden]", float, double) {
  for (const char* name : {"maxpool2", "maxpool3_stride2"}) {
    INFO(name);
    const auto file = test::golden(name);
    MaxPool2D<TestType> pool(metadata_count(file, "size"), metadata_count(file, "stride"));
    build(pool, file.read_as<TestType>("x").shape());
    check_against_golden(pool, file);
  }
}

TEMPLATE_TEST_CASE("BatchNorm matches PyTorch's BatchNorm1d/2d: train step, running statistics, eval",
                   "[layers][batchnorm][golden]", float, double) {
  for (const char* name : {"batchnorm1d", "batchnorm2d"}) {
    INFO(name);
    const auto file = test::golden(name);
    BatchNorm<TestType> bn(std::stod(file.metadata().at("momentum")), std::stod(file.metadata().at("eps")));
    build(bn, file.read_as<TestType>("x").shape());
    load_param(bn, file, "weight", "weight");
    load_param(bn, file, "bias", "bias");
    load_param(bn, file, "running_mean_before", "running_mean");
    load_param(bn, file, "running_var_before", "running_var");
    check_against_golden(bn, file, Mode::train, "y_train");
    const double tolerance = test::parity_tolerance<TestType>();
    Tensor<TestType> mean(test::param(bn, "running_mean").value.shape());
    std::copy(test::param(bn, "running_mean").value.begin(), test::param(bn, "running_mean").value.end(),
              mean.begin());
    Tensor<TestType> var(mean.shape());
    std::copy(test::param(bn, "running_var").value.begin(), test::param(bn, "running_var").value.end(),
              var.begin());
    CHECK(test::relative_error(mean, file.read_as<double>("running_mean_after")) <= tolerance);
    CHECK(test::relative_error(var, file.read_as<double>("running_var_after")) <= tolerance);
    CHECK(test::param(bn, "num_batches_tracked").value[0] == TestType(1));

    const Tensor<TestType> x = file.read_as<TestType>("x");
    Tensor<TestType> y(x.shape());
    bn.forward(x.view(), y.view(), Mode::eval);
    CHECK(test::relative_error(y, file.read_as<double>("y_eval")) <= tolerance);
  }
}

// ---- BatchNorm and Dropout behaviour -------------------------------------------------------------

TEST_CASE("BatchNorm normalises each channel to zero mean and unit variance in training",
          "[layers][batchnorm]") {
  BatchNorm<double> bn;
  const Shape shape{4, 3, 5, 2};
  build(bn, shape);
  const Tensor<double> x = test::random_tensor<double>(shape, 11, 3, 9);
  Tensor<double> y(shape);
  bn.forward(x.view(), y.view(), Mode::train);
  for (std::size_t c = 0; c < 3; ++c) {
    double sum = 0, squares = 0;
    for (std::size_t n = 0; n < 4; ++n)
      for (std::size_t p = 0; p < 10; ++p) sum += y[(n * 3 + c) * 10 + p];
    for (std::size_t n = 0; n < 4; ++n)
      for (std::size_t p = 0; p < 10; ++p) squares += std::pow(y[(n * 3 + c) * 10 + p] - sum / 40, 2);
    CHECK(std::abs(sum / 40) < 1e-12);
    CHECK(squares / 40 == Approx(1.0).epsilon(1e-4));  // var / (var + eps)
  }
  // One value per channel cannot give a batch variance: PyTorch refuses, so do we.
  BatchNorm<double> single;
  build(single, Shape{1, 3});
  Tensor<double> one(Shape{1, 3}), out(Shape{1, 3});
  CHECK_THROWS_WITH(single.forward(one.view(), out.view(), Mode::train),
                    Contains("more than one value per channel"));
  CHECK_NOTHROW(single.forward(one.view(), out.view(), Mode::eval));
}

TEST_CASE("Dropout keeps the expected fraction, scales by 1/(1-rate), and is off in eval",
          "[layers][dropout]") {
  const Shape shape{50, 2000};
  const Tensor<float> x = test::random_tensor<float>(shape, 12, 1, 2);  // never zero
  Tensor<float> y(shape);
  for (double rate : {0.25, 0.5, 0.9}) {
    Dropout<float> dropout(rate);
    build(dropout, shape);
    dropout.forward(x.view(), y.view(), Mode::train);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (y[i] == 0.0f) continue;
      ++kept;
      if (std::abs(y[i] - x[i] / static_cast<float>(1 - rate)) > 1e-5f * std::abs(y[i]))
        FAIL("element not scaled");
    }
    const double n = static_cast<double>(x.size()), p = 1 - rate;
    CHECK(std::abs(kept - n * p) < 5 * std::sqrt(n * p * (1 - p)));  // within 5 sigma
    // The next step draws another mask.
    Tensor<float> y2(shape);
    dropout.forward(x.view(), y2.view(), Mode::train);
    CHECK(!std::equal(y.begin(), y.end(), y2.begin()));
    dropout.forward(x.view(), y.view(), Mode::eval);
    CHECK(std::equal(x.begin(), x.end(), y.begin()));
  }
}

TEST_CASE("Dropout with rate 0 is the identity and with rate 1 zeroes everything", "[layers][dropout]") {
  const Shape shape{3, 7};
  const Tensor<double> x = test::random_tensor<double>(shape, 13, 1, 2);
  Tensor<double> y(shape), dx(shape);
  const Tensor<double> dy = test::random_tensor<double>(shape, 14);
  Dropout<double> none(0.0), all(1.0);
  build(none, shape);
  build(all, shape);
  none.forward(x.view(), y.view(), Mode::train);
  CHECK(std::equal(x.begin(), x.end(), y.begin()));
  none.backward(x.view(), y.view(), dy.view(), dx.view());
  CHECK(std::equal(dy.begin(), dy.end(), dx.begin()));
  all.forward(x.view(), y.view(), Mode::train);
  all.backward(x.view(), y.view(), dy.view(), dx.view());
  for (std::size_t i = 0; i < x.size(); ++i) {
    CHECK(y[i] == 0.0);
    CHECK(dx[i] == 0.0);
  }
  CHECK_THROWS_AS(Dropout<float>(1.5), ConfigError);
  CHECK_THROWS_AS(Dropout<float>(-0.1), ConfigError);
}

TEST_CASE("Dropout masks and Conv2D gradients are identical with 1 and 2 threads", "[layers][threads]") {
  const Shape shape{64, 32, 14, 14};  // large enough for the mask to be drawn in parallel
  const Tensor<float> x = test::random_tensor<float>(shape, 15, 1, 2);
  Tensor<float> one(shape), two(shape);
  Dropout<float> dropout(0.5);
  build(dropout, shape, 42);
  set_num_threads(1);
  dropout.set_step(7);
  dropout.forward(x.view(), one.view(), Mode::train);
  set_num_threads(2);
  dropout.set_step(7);
  dropout.forward(x.view(), two.view(), Mode::train);
  CHECK(std::equal(one.begin(), one.end(), two.begin()));

  const Shape input{9, 3, 10, 10};
  const Tensor<float> image = test::random_tensor<float>(input, 16);
  std::vector<float> grads[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Conv2D<float> conv(4, 3, 1, Padding(1));
    build(conv, input, 3);
    Tensor<float> y(conv.output_shape(input)), dx(input);
    conv.forward(image.view(), y.view(), Mode::train);
    const Tensor<float> dy = test::random_tensor<float>(y.shape(), 17);
    conv.backward(image.view(), y.view(), dy.view(), dx.view());
    auto& g = grads[threads - 1];
    g.assign(dx.begin(), dx.end());
    const auto w = test::param(conv, "weight").grad;
    g.insert(g.end(), w.begin(), w.end());
  }
  CHECK(grads[0] == grads[1]);
  set_num_threads(2);
}

// ---- shapes, errors, configs ----------------------------------------------------------------------

TEST_CASE("Layers report shape errors naming the layer and both shapes", "[layers][errors]") {
  Dense<float> dense(10);
  dense.set_name("dense_1");
  build(dense, Shape{4, 784});
  Tensor<float> x(Shape{4, 100}), y(Shape{4, 10});
  CHECK_THROWS_WITH(dense.forward(x.view(), y.view(), Mode::train),
                    "Dense 'dense_1': forward expected input (N, 784), got (4, 100)");
  CHECK_THROWS_AS(dense.forward(x.view(), y.view(), Mode::train), ShapeError);
  CHECK_THROWS_WITH(dense.output_shape(Shape{4, 1, 28, 28}), Contains("add a Flatten layer"));
  Tensor<float> good(Shape{4, 784}), wrong_y(Shape{4, 11});
  CHECK_THROWS_WITH(dense.forward(good.view(), wrong_y.view(), Mode::train),
                    "Dense 'dense_1': forward for input (4, 784) expected output (4, 10), got (4, 11)");

  Conv2D<float> conv(8, 3);
  build(conv, Shape{2, 3, 8, 8});
  Tensor<float> gray(Shape{2, 1, 8, 8}), out(Shape{2, 8, 6, 6});
  CHECK_THROWS_WITH(conv.forward(gray.view(), out.view(), Mode::train),
                    "Conv2D: forward expected input (N, 3, 8, 8), got (2, 1, 8, 8)");
  CHECK_THROWS_WITH(Conv2D<float>(8, 5).output_shape(Shape{1, 1, 3, 3}),
                    Contains("a 5x5 kernel does not fit input (1, 1, 3, 3)"));
  CHECK_THROWS_WITH(Conv2D<float>(8, 4, 1, Padding::same()), Contains("odd kernel"));
  CHECK_THROWS_WITH(Conv2D<float>(8, 3, 2, Padding::same()), Contains("stride 1"));
  CHECK_THROWS_WITH(MaxPool2D<float>(2).output_shape(Shape{2, 8}),
                    "MaxPool2D: expected input (N, C, H, W), got (2, 8)");
  CHECK_THROWS_WITH(BatchNorm<float>().output_shape(Shape{2, 3, 4}), Contains("got (2, 3, 4)"));

  Tensor<float> dy(Shape{4, 9}), dx(Shape{4, 784});
  CHECK_THROWS_WITH(dense.backward(good.view(), y.view(), dy.view(), dx.view()),
                    "Dense 'dense_1': backward expected dy (4, 10) (the output's shape), got (4, 9)");
  Dense<float> unbuilt(3);
  CHECK_THROWS_WITH(unbuilt.forward(good.view(), y.view(), Mode::train), Contains("before build()"));
}

TEST_CASE("Layers have PyTorch's parameter names and layouts", "[layers]") {
  Conv2D<float> conv(32, 3);
  build(conv, Shape{1, 1, 28, 28});
  CHECK(test::param(conv, "weight").value.shape() == Shape{32, 1, 3, 3});
  CHECK(test::param(conv, "bias").value.shape() == Shape{32});
  Dense<float> dense(128);
  build(dense, Shape{1, 1600});
  CHECK(test::param(dense, "weight").value.shape() == Shape{128, 1600});
  BatchNorm<float> bn;
  build(bn, Shape{2, 64, 7, 7});
  std::vector<std::string> names;
  for (auto& p : bn.params()) names.push_back(p.name);
  CHECK(names ==
        std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
  CHECK(test::param(bn, "weight").value[0] == 1.0f);
  CHECK(test::param(bn, "running_var").value[0] == 1.0f);
  CHECK_FALSE(test::param(bn, "running_mean").trainable());
  CHECK(test::param(bn, "num_batches_tracked").integer);
}

TEST_CASE("Initial weights are He-normal, zero bias, and depend only on the seed", "[layers][init]") {
  Dense<double> a(300), b(300), c(300);
  build(a, Shape{1, 400}, 1);
  build(b, Shape{1, 400}, 1);
  build(c, Shape{1, 400}, 2);
  const auto wa = test::param(a, "weight").value, wb = test::param(b, "weight").value;
  const auto wc = test::param(c, "weight").value;
  CHECK(std::equal(wa.begin(), wa.end(), wb.begin()));
  CHECK_FALSE(std::equal(wa.begin(), wa.end(), wc.begin()));
  double squares = 0;
  for (double w : wa) squares += w * w;
  CHECK(squares / wa.size() == Approx(2.0 / 400).epsilon(0.02));  // var = 2 / fan_in
  for (double v : test::param(a, "bias").value) CHECK(v == 0.0);

  // PyTorch's default: weight and bias uniform on [-1/sqrt(fan_in), 1/sqrt(fan_in)).
  Conv2D<double> torch_like(16, 3, 1, Padding::valid(), true, Initializer::torch_default);
  build(torch_like, Shape{1, 4, 8, 8});
  const double bound = 1 / std::sqrt(36.0);
  for (const char* name : {"weight", "bias"}) {
    const auto v = test::param(torch_like, name).value;
    double lo = 1, hi = -1, sum_sq = 0;
    for (double w : v) {
      lo = std::min(lo, w);
      hi = std::max(hi, w);
      sum_sq += w * w;
    }
    CHECK(lo >= -bound);
    CHECK(hi < bound);
    CHECK(hi - lo > bound);  // spread over the interval, not zero
    if (std::string(name) == "weight") CHECK(sum_sq / v.size() == Approx(bound * bound / 3).epsilon(0.1));
  }
}

TEST_CASE("make_layer rebuilds every layer from its type and config", "[layers][config]") {
  std::vector<std::unique_ptr<Layer<float>>> layers;
  layers.push_back(std::make_unique<Dense<float>>(10, false, Initializer::glorot_uniform));
  layers.push_back(std::make_unique<Conv2D<float>>(8, Size2d(3, 5), Size2d(2, 1), Padding(1, 2), false));
  layers.push_back(std::make_unique<Conv2D<float>>(8, 3, 1, Padding::same()));
  layers.push_back(std::make_unique<MaxPool2D<float>>(3, 2, 1));
  layers.push_back(std::make_unique<AveragePooling2D<float>>(3, 2, 1, false));
  layers.push_back(std::make_unique<GlobalAveragePooling2D<float>>(true));
  layers.push_back(std::make_unique<BatchNorm<float>>(0.2, 1e-3));
  layers.push_back(std::make_unique<Dropout<float>>(0.25));
  layers.push_back(std::make_unique<Flatten<float>>());
  layers.push_back(std::make_unique<ReLU<float>>());
  layers.push_back(std::make_unique<LeakyReLU<float>>(0.3));
  layers.push_back(std::make_unique<Sigmoid<float>>());
  layers.push_back(std::make_unique<Tanh<float>>());
  layers.push_back(std::make_unique<Softmax<float>>());
  for (const auto& layer : layers) {
    INFO(layer->type() << " " << layer->config().dump());
    const auto copy = make_layer<float>(layer->type(), layer->config());
    CHECK(copy->type() == layer->type());
    CHECK(copy->config() == layer->config());
    // parameter_count (what load_model checks a file's architecture with, before building)
    // predicts exactly the values build creates, for an image input and, where it fits, a flat one.
    for (const Shape& input : {Shape{2, 3, 9, 11}, Shape{2, 7}}) {
      auto fresh = make_layer<float>(layer->type(), layer->config());
      try {
        (void)fresh->output_shape(input);
      } catch (const ShapeError&) {
        continue;  // a convolution or pooling takes no flat input
      }
      const std::uint64_t predicted = fresh->parameter_count(input);
      fresh->build(input, CounterRng(1), 0);
      std::uint64_t created = 0;
      for (const auto& p : fresh->params()) created += p.value.size();
      INFO("input " << input);
      CHECK(predicted == created);
    }
  }
  CHECK_THROWS_WITH(make_layer<float>("Dense2", {}), Contains("unknown layer type 'Dense2'"));
  CHECK_THROWS_WITH(make_layer<float>("Dense", {{"unit", 3}}), "Dense: unknown config key 'unit'");
  CHECK_THROWS_WITH(make_layer<float>("Dense", nlohmann::json::object()),
                    "Dense: config key 'units' is missing");
  CHECK_THROWS_WITH(make_layer<float>("Conv2D", {{"filters", 3}, {"kernel_size", "big"}}),
                    Contains("kernel_size: expected a non-negative integer"));
  CHECK_THROWS_WITH(make_layer<float>("Conv2D", {{"filters", 3}, {"kernel_size", 3}, {"padding", "full"}}),
                    Contains("padding: expected \"valid\", \"same\""));
  CHECK_THROWS_WITH(make_layer<float>("Dense", {{"units", 3}, {"init", "ones"}}),
                    Contains("unknown initializer 'ones'"));
}

TEST_CASE("backward must pair with the last forward pass: another tensor or no pass is an Error",
          "[layers]") {
  const Shape in{2, 3, 6, 6};
  const Tensor<double> a = test::random_tensor<double>(in, 1), b = test::random_tensor<double>(in, 2);
  MaxPool2D<double> pool(2);
  build(pool, in);
  Tensor<double> y(pool.output_shape(in)), dy(y.shape()), dx(in);
  // No forward since build: nothing to differentiate.
  CHECK_THROWS_WITH(pool.backward(a.view(), y.view(), dy.view(), dx.view()),
                    Catch::Contains("last forward pass") && Catch::Contains("none since build"));
  // forward(a), forward(b), backward(a) would route a's gradient by b's arg-max.
  pool.forward(a.view(), y.view(), Mode::train);
  pool.forward(b.view(), y.view(), Mode::train);
  CHECK_THROWS_WITH(pool.backward(a.view(), y.view(), dy.view(), dx.view()),
                    Catch::Contains("MaxPool2D") && Catch::Contains("another tensor"));
  CHECK_NOTHROW(pool.backward(b.view(), y.view(), dy.view(), dx.view()));

  // BatchNorm: a train pass on a, an eval pass on b, then backward(a) would mix a's gradient with
  // b's pass (its running statistics).
  BatchNorm<double> bn;
  build(bn, in);
  Tensor<double> z(in), dz(in);
  bn.forward(a.view(), z.view(), Mode::train);
  bn.forward(b.view(), z.view(), Mode::eval);
  CHECK_THROWS_AS(bn.backward(a.view(), z.view(), dz.view(), dx.view()), Error);
  // A forward that throws pairs with nothing.
  Tensor<double> one(Shape{1, 3}), one_out(Shape{1, 3});
  BatchNorm<double> single;
  build(single, Shape{1, 3});
  CHECK_THROWS_AS(single.forward(one.view(), one_out.view(), Mode::train), ShapeError);
  CHECK_THROWS_AS(single.backward(one.view(), one_out.view(), one_out.view(), one.view()), Error);
}

TEST_CASE("ReLU passes NaN through, as PyTorch does, and keeps every other value", "[layers][nan]") {
  // Mapping NaN to 0 hid a NaN pixel: the loss stayed finite and TerminateOnNaN never fired.
  ReLU<float> relu;
  build(relu, Shape{1, 4});
  Tensor<float> x(Shape{1, 4}), y(Shape{1, 4});
  x[0] = std::numeric_limits<float>::quiet_NaN();
  x[1] = -1.5f;
  x[2] = 2.5f;
  x[3] = -0.0f;
  relu.forward(x.view(), y.view(), Mode::train);
  CHECK(std::isnan(y[0]));
  CHECK(y[1] == 0.0f);
  CHECK(y[2] == 2.5f);
  CHECK((y[3] == 0.0f && !std::signbit(y[3])));
}

// ---- Residual blocks ----------------------------------------------------------------------------

namespace {

/// Conv 3x3 stride `stride` -> BatchNorm -> ReLU -> Conv 3x3 -> BatchNorm: a ResNet block's body
/// (the convolutions without bias, which the BatchNorm after them would cancel).
template <typename T>
Residual<T> conv_block(std::size_t filters, std::size_t stride) {
  Residual<T> block;
  block.add(Conv2D<T>(filters, 3, stride, Padding(1), false))
      .add(BatchNorm<T>())
      .add(ReLU<T>())
      .add(Conv2D<T>(filters, 3, 1, Padding(1), false))
      .add(BatchNorm<T>());
  return block;
}

/// Sets every BatchNorm inside `layer` (a block, at any depth) to a non-trivial affine map.
template <typename T>
void vary_batchnorms(Layer<T>& layer) {
  std::size_t k = 0;
  for (auto& p : layer.params())
    if (p.name.size() >= 6 && p.name.compare(p.name.size() - 6, 6, "weight") == 0 && p.value.rank() == 1)
      for (std::size_t c = 0; c < p.value.size(); ++c)
        p.value[c] = T(0.6 + 0.1 * static_cast<double>(k++ % 7));
}

}  // namespace

TEST_CASE("Residual backward matches finite differences: identity, projection, own shortcut, nested",
          "[layers][residual][gradcheck]") {
  SECTION("identity shortcut around dense layers") {
    Residual<double> block;
    block.add(Dense<double>(7)).add(Tanh<double>()).add(Dense<double>(7));
    build(block, Shape{3, 7});
    test::check_gradients(block, test::random_tensor<double>(Shape{3, 7}, 1), Mode::train);
  }
  for (Mode mode : {Mode::train, Mode::eval}) {
    INFO((mode == Mode::train ? "train" : "eval"));
    SECTION(std::string("automatic projection (stride 2, more channels), ") +
            (mode == Mode::train ? "train" : "eval")) {
      Residual<double> block = conv_block<double>(4, 2);
      build(block, Shape{2, 3, 7, 6});
      REQUIRE(block.projection_is_automatic());
      CHECK(block.shortcut(0).type() == "Conv2D");
      vary_batchnorms(block);
      test::check_gradients(block, test::random_tensor<double>(Shape{2, 3, 7, 6}, 2), mode);
    }
    SECTION(std::string("a shortcut of its own, ") + (mode == Mode::train ? "train" : "eval")) {
      Residual<double> block = conv_block<double>(4, 2);
      block.add_shortcut(Conv2D<double>(4, 1, 2, Padding::valid(), false)).add_shortcut(BatchNorm<double>());
      build(block, Shape{2, 3, 7, 6});
      CHECK_FALSE(block.projection_is_automatic());
      vary_batchnorms(block);
      test::check_gradients(block, test::random_tensor<double>(Shape{2, 3, 7, 6}, 3), mode);
    }
  }
  SECTION("nested: a block inside a block, a ReLU first (its backward done by the Conv2D after it)") {
    Residual<double> inner;
    inner.add(Conv2D<double>(2, 3, 1, Padding::same()))
        .add(ReLU<double>())
        .add(Conv2D<double>(2, 3, 1, Padding::same()));
    Residual<double> outer;
    outer.add(ReLU<double>())
        .add(Conv2D<double>(2, 3, 1, Padding::same()))
        .add(std::move(inner))
        .add(Tanh<double>());
    build(outer, Shape{2, 2, 5, 5});
    test::check_gradients(outer, test::random_tensor<double>(Shape{2, 2, 5, 5}, 4, -1, 1), Mode::train);
  }
}

TEMPLATE_TEST_CASE("Residual matches a PyTorch module of the same layers, names included",
                   "[layers][residual][golden]", float, double) {
  // tests/reference/residual_*.safetensors, from tests/reference/make_layers.py (PyTorch 1.13):
  // parameters "param.<name>" under the block's state_dict names, gradients "d<name>", running
  // statistics after the training step "after.<name>".
  Residual<TestType> projection = conv_block<TestType>(4, 2);
  projection.add_shortcut(Conv2D<TestType>(4, 1, 2, Padding::valid(), false))
      .add_shortcut(BatchNorm<TestType>());
  Residual<TestType> inner;
  inner.add(Conv2D<TestType>(2, 3, 1, Padding(1))).add(Tanh<TestType>());
  Residual<TestType> nested;
  nested.add(Conv2D<TestType>(2, 3, 1, Padding(1)))
      .add(ReLU<TestType>())
      .add(std::move(inner))
      .add(Conv2D<TestType>(2, 1));
  for (auto* block : {&projection, &nested}) {
    const std::string name = block == &projection ? "residual_projection" : "residual_nested";
    INFO(name);
    const auto file =
        io::SafetensorsFile::load(std::string(TINYDL_TEST_DATA_DIR) + "/reference/" + name + ".safetensors");
    build(*block, file.read_as<TestType>("x").shape());
    for (auto& p : block->params())
      if (!p.integer) file.read_into("param." + p.name, p.value);
    check_against_golden(*block, file);
    for (auto& p : block->params())
      if (file.contains("after." + p.name)) {
        INFO(p.name);
        Tensor<TestType> actual(p.value.shape());
        std::copy(p.value.begin(), p.value.end(), actual.begin());
        CHECK(test::relative_error(actual, file.read_as<double>("after." + p.name)) <=
              test::parity_tolerance<TestType>());
      }
  }
}

TEST_CASE("Residual: without dx the parameter gradients are the same; fused evaluation as layer by layer",
          "[layers][residual]") {
  const Shape in{3, 3, 8, 8};
  const Tensor<float> x = test::random_tensor<float>(in, 11);
  Residual<float> block = conv_block<float>(5, 2);
  build(block, in);
  vary_batchnorms(block);
  Tensor<float> y(block.output_shape(in)), dx(in);
  const Tensor<float> dy = test::random_tensor<float>(y.shape(), 12);
  // The model's first trainable layer is given no dx: the gradients must not depend on it.
  std::vector<std::vector<float>> with_dx, without_dx;
  for (auto* grads : {&with_dx, &without_dx}) {
    zero_grads(block);
    block.forward(x.view(), y.view(), Mode::train);
    block.backward(x.view(), y.view(), dy.view(), grads == &with_dx ? dx.view() : TensorView<float>());
    for (auto& p : block.params())
      if (p.trainable()) grads->emplace_back(p.grad.begin(), p.grad.end());
  }
  CHECK(with_dx == without_dx);

  // Evaluation: fused (Conv2D + BatchNorm + ReLU in one epilogue) within rounding of layer by layer.
  Tensor<float> fused(y.shape());
  block.forward(x.view(), fused.view(), Mode::eval);
  Tensor<float> h(x.shape());
  std::copy(x.begin(), x.end(), h.begin());
  Tensor<float> body = h, skip = h;
  for (std::size_t i = 0; i < block.body_size(); ++i) {
    Tensor<float> next(block.body(i).output_shape(body.shape()));
    block.body(i).forward(body.view(), next.view(), Mode::eval);
    body = std::move(next);
  }
  for (std::size_t i = 0; i < block.shortcut_size(); ++i) {
    Tensor<float> next(block.shortcut(i).output_shape(skip.shape()));
    block.shortcut(i).forward(skip.view(), next.view(), Mode::eval);
    skip = std::move(next);
  }
  for (std::size_t i = 0; i < body.size(); ++i) body[i] += skip[i];
  CHECK(test::relative_error(fused, body) <= 1e-5);
}

TEST_CASE("Residual's config rebuilds it; bad configs and shapes are clear errors",
          "[layers][residual][config]") {
  Residual<float> inner;
  inner.add(Conv2D<float>(4, 3, 1, Padding::same())).add(Dropout<float>(0.2));
  Residual<float> block = conv_block<float>(4, 2);
  block.add(std::move(inner));
  block.add_shortcut(Conv2D<float>(4, 1, 2, Padding::valid(), false));
  const Shape in{2, 3, 9, 11};
  const auto copy = make_layer<float>("Residual", block.config());
  CHECK(copy->config() == block.config());
  const std::uint64_t predicted = copy->parameter_count(in);
  copy->build(in, CounterRng(1), 0);
  std::uint64_t created = 0;
  for (const auto& p : copy->params()) created += p.value.size();
  CHECK(predicted == created);
  CHECK(copy->counters().size() == 1);  // the inner Dropout's step

  // The automatic projection is not written: a rebuilt block derives it again.
  Residual<float> automatic = conv_block<float>(6, 2);
  automatic.build(in, CounterRng(1), 0);
  CHECK(automatic.config().at("shortcut").empty());
  const auto rebuilt = make_layer<float>("Residual", automatic.config());
  CHECK(rebuilt->parameter_count(in) == automatic.parameter_count(in));

  CHECK_THROWS_WITH(make_layer<float>("Residual", {{"body", 3}}), Contains("'body' must be an array"));
  CHECK_THROWS_WITH(make_layer<float>("Residual", {{"body", nlohmann::json::array()}}),
                    Contains("holds no layers"));
  CHECK_THROWS_WITH(
      make_layer<float>("Residual",
                        {{"body", {{{"type", "Dense"}, {"config", {{"units", 2}}}, {"name", "x"}}}}}),
      Contains("unknown key 'name'"));
  CHECK_THROWS_WITH(make_layer<float>("Residual", {{"body", {{{"config", {}}}}}}),
                    Contains("needs a \"type\" string"));
  CHECK_THROWS_WITH(
      make_layer<float>("Residual", {{"body", {{{"type", "Dense"}, {"config", {{"unit", 2}}}}}}}),
      Contains("Dense: unknown config key 'unit'"));
  // A file cannot make loading recurse without end.
  nlohmann::json deep = {{"body", {{{"type", "ReLU"}}}}};
  for (int i = 0; i < 40; ++i) deep = {{"body", {{{"type", "Residual"}, {"config", deep}}}}};
  CHECK_THROWS_WITH(make_layer<float>("Residual", deep), Contains("nest more than 32 deep"));

  // Shapes: an identity shortcut needs the body to keep the shape, a projection a 1x1 convolution.
  Residual<float> flat;
  flat.add(Dense<float>(5));
  CHECK_THROWS_WITH(flat.output_shape(Shape{2, 7}), Contains("which no 1x1 convolution does"));
  Residual<float> mismatch = conv_block<float>(4, 1);
  mismatch.add_shortcut(Conv2D<float>(4, 1, 2));
  CHECK_THROWS_WITH(mismatch.output_shape(in), Contains("but the shortcut to"));
  Residual<float> bad_inner = conv_block<float>(4, 1);
  bad_inner.add(Dense<float>(3));
  CHECK_THROWS_WITH(bad_inner.output_shape(in), Contains("body layer 5 (Dense) does not fit"));
  Residual<float> empty;
  CHECK_THROWS_AS(empty.output_shape(in), ConfigError);
}

TEST_CASE("A Residual after a ReLU does the ReLU's backward while it sums its gradients, bit for bit",
          "[layers][residual][fusion]") {
  check_relu_backward_fusion(conv_block<float>(3, 1), conv_block<float>(3, 1),
                             Shape{2, 3, 6, 6});  // identity
  check_relu_backward_fusion(conv_block<float>(4, 2), conv_block<float>(4, 2),
                             Shape{3, 2, 7, 7});  // projection
  check_relu_backward_fusion(conv_block<float>(3, 1), conv_block<float>(3, 1), Shape{2, 3, 6, 6}, false);
  check_relu_backward_fusion(conv_block<float>(4, 2), conv_block<float>(4, 2), Shape{3, 2, 7, 7}, false);
}
