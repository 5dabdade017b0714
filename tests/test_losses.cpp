// Tests of include/tinydl/losses: the fused softmax cross-entropy against PyTorch, finite
// differences and extreme logits.
#include "test_support.hpp"

using namespace tinydl;
using Catch::Matchers::Contains;

TEMPLATE_TEST_CASE("SoftmaxCrossEntropy matches PyTorch for integer labels and soft targets",
                   "[losses][golden]", float, double) {
  const auto file = test::golden("cross_entropy");
  const Tensor<TestType> logits = file.read_as<TestType>("logits");
  const Tensor<std::int64_t> labels = file.read_as<std::int64_t>("labels");
  const Tensor<TestType> soft = file.read_as<TestType>("soft_targets");
  const SoftmaxCrossEntropy<TestType> loss;
  const double tolerance = test::parity_tolerance<TestType>();

  Tensor<TestType> dlogits(logits.shape());
  const TestType value = loss(logits.view(), labels.view(), dlogits.view());
  CHECK(std::abs(value - file.read_as<double>("loss")[0]) <=
        tolerance * std::abs(file.read_as<double>("loss")[0]));
  CHECK(test::relative_error(dlogits, file.read_as<double>("dlogits")) <= tolerance);

  const TestType soft_value = loss(logits.view(), soft.view(), dlogits.view());
  const double expected_soft = file.read_as<double>("loss_soft")[0];
  CHECK(std::abs(soft_value - expected_soft) <= tolerance * std::abs(expected_soft));
  CHECK(test::relative_error(dlogits, file.read_as<double>("dlogits_soft")) <= tolerance);

  // Without a gradient tensor only the loss is computed.
  CHECK(loss(logits.view(), labels.view()) == value);
}

TEST_CASE("SoftmaxCrossEntropy gradient matches finite differences", "[losses][gradcheck]") {
  Tensor<double> logits = test::random_tensor<double>(Shape{5, 4}, 21, -3, 3);
  const Tensor<std::int32_t> labels(Shape{5}, {0, 3, 1, 1, 2});
  Tensor<double> soft = test::random_tensor<double>(Shape{5, 4}, 22, 0, 1);  // rows need not sum to 1
  const SoftmaxCrossEntropy<double> loss;
  Tensor<double> hard_grad(logits.shape()), soft_grad(logits.shape());
  loss(logits.view(), labels.view(), hard_grad.view());
  loss(logits.view(), soft.view(), soft_grad.view());
  const double h = 1e-6;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double saved = logits[i];
    logits[i] = saved + h;
    const double hard_plus = loss(logits.view(), labels.view()), soft_plus = loss(logits.view(), soft.view());
    logits[i] = saved - h;
    const double hard_minus = loss(logits.view(), labels.view()),
                 soft_minus = loss(logits.view(), soft.view());
    logits[i] = saved;
    CHECK(hard_grad[i] == Approx((hard_plus - hard_minus) / (2 * h)).margin(1e-8));
    CHECK(soft_grad[i] == Approx((soft_plus - soft_minus) / (2 * h)).margin(1e-8));
  }
}

TEST_CASE("SoftmaxCrossEntropy is exact and finite for logits of +-1e4", "[losses]") {
  // Row 0: the label's logit wins by 2e4, loss 0. Row 1: the label's logit loses by 2e4, loss 2e4.
  const Tensor<float> logits(Shape{2, 3}, {1e4f, -1e4f, -1e4f, 1e4f, -1e4f, 1e4f});
  const Tensor<std::int64_t> labels(Shape{2}, {0, 1});
  Tensor<float> grad(logits.shape());
  const float value = SoftmaxCrossEntropy<float>()(logits.view(), labels.view(), grad.view());
  CHECK(std::isfinite(value));
  CHECK(value == Approx((0.0 + (2e4 + std::log(2.0))) / 2).epsilon(1e-6));
  for (float g : grad) CHECK(std::isfinite(g));
  CHECK(grad[0] == Approx(0.0).margin(1e-7));    // p = 1 for the right class
  CHECK(grad[4] == Approx(-0.5).epsilon(1e-6));  // (0 - 1) / N
  CHECK(grad[3] == Approx(0.25).epsilon(1e-6));  // (1/2) / N
}

TEST_CASE("SoftmaxCrossEntropy rejects bad labels and shapes clearly", "[losses][errors]") {
  const Tensor<float> logits(Shape{2, 3});
  const SoftmaxCrossEntropy<float> loss;
  CHECK_THROWS_WITH(loss(logits.view(), Tensor<std::int64_t>(Shape{2}, {0, 3}).view()),
                    "SoftmaxCrossEntropy: label 3 of item 1 is outside [0, 3)");
  CHECK_THROWS_WITH(loss(logits.view(), Tensor<std::int64_t>(Shape{2}, {-1, 0}).view()),
                    Contains("label -1"));
  CHECK_THROWS_WITH(loss(logits.view(), Tensor<std::int64_t>(Shape{3}).view()),
                    "SoftmaxCrossEntropy: expected labels (2) for logits (2, 3), got (3)");
  CHECK_THROWS_WITH(loss(logits.view(), Tensor<float>(Shape{2, 4}).view()),
                    Contains("expected targets (2, 3)"));
  CHECK_THROWS_AS(loss(Tensor<float>(Shape{6}).view(), Tensor<std::int64_t>(Shape{6}).view()), ShapeError);
}

TEMPLATE_TEST_CASE("Class-weighted SoftmaxCrossEntropy matches PyTorch's CrossEntropyLoss(weight=...)",
                   "[losses][golden][weights]", float, double) {
  // tests/reference/weighted_cross_entropy.safetensors (tests/reference/make_layers.py): a zero
  // weight and a repeated class; the mean is over the labels' weights.
  const auto file = io::SafetensorsFile::load(std::string(TINYDL_TEST_DATA_DIR) +
                                              "/reference/weighted_cross_entropy.safetensors");
  const Tensor<TestType> logits = file.read_as<TestType>("logits");
  const Tensor<double> label_values = file.read_as<double>("labels"),
                       weights = file.read_as<double>("weights");
  Tensor<std::int32_t> labels(label_values.shape());
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(label_values[i]);
  const SoftmaxCrossEntropy<TestType> loss(std::vector<double>(weights.begin(), weights.end()));
  Tensor<TestType> dlogits(logits.shape());
  const double expected = file.read_as<double>("loss")[0];
  CHECK(std::abs(loss(logits.view(), labels.view(), dlogits.view()) - expected) <=
        test::parity_tolerance<TestType>() * std::abs(expected));
  CHECK(test::relative_error(dlogits, file.read_as<double>("dlogits")) <= test::parity_tolerance<TestType>());
  CHECK(loss.weight_sum(logits.view(), labels.view()) == Approx(0.5 * 2 + 1.25 * 3 + 3.0 * 2 + 2.0));
}

TEST_CASE(
    "Class-weighted SoftmaxCrossEntropy: finite differences, all-ones is the unweighted loss bit for bit, "
    "bad weights",
    "[losses][gradcheck][weights][errors]") {
  Tensor<double> logits = test::random_tensor<double>(Shape{6, 3}, 31, -3, 3);
  const Tensor<std::int32_t> labels(Shape{6}, {0, 2, 2, 1, 0, 2});
  const SoftmaxCrossEntropy<double> loss({0.2, 1.5, 3.0});
  Tensor<double> grad(logits.shape());
  loss(logits.view(), labels.view(), grad.view());
  const double h = 1e-6;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    const double saved = logits[i];
    logits[i] = saved + h;
    const double plus = loss(logits.view(), labels.view());
    logits[i] = saved - h;
    const double minus = loss(logits.view(), labels.view());
    logits[i] = saved;
    CHECK(grad[i] == Approx((plus - minus) / (2 * h)).margin(1e-8));
  }
  // Weights of 1 change no bit; the weights do change the loss.
  const Tensor<float> z = test::random_tensor<float>(Shape{6, 3}, 32, -3, 3);
  Tensor<float> plain_grad(z.shape()), ones_grad(z.shape());
  const float plain = SoftmaxCrossEntropy<float>()(z.view(), labels.view(), plain_grad.view());
  const float ones = SoftmaxCrossEntropy<float>({1, 1, 1})(z.view(), labels.view(), ones_grad.view());
  CHECK(plain == ones);
  CHECK(std::equal(plain_grad.begin(), plain_grad.end(), ones_grad.begin()));
  CHECK(SoftmaxCrossEntropy<float>({1, 1, 5})(z.view(), labels.view()) != plain);

  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({1, 1, 1})(z.view(), z.view()),
                    Contains("weigh soft targets"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({1, -1}), Contains("class weight 1 is -1"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({1, std::nan("")}), Contains("must be finite"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({0, 0}), Contains("sum to 0"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({1, 1})(z.view(), labels.view()),
                    "SoftmaxCrossEntropy: 2 class weights for 3 classes");
  const Tensor<std::int32_t> only_zero(Shape{6}, {1, 1, 1, 1, 1, 1});
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>({1, 0, 1})(z.view(), only_zero.view()),
                    Contains("batch's weights sum to 0"));
}

namespace {

/// tests/reference/sample_weighted_losses.safetensors (tests/reference/make_layers.py).
io::SafetensorsFile sample_weighted_reference() {
  return io::SafetensorsFile::load(std::string(TINYDL_TEST_DATA_DIR) +
                                   "/reference/sample_weighted_losses.safetensors");
}

std::vector<double> as_vector(const Tensor<double>& t) {
  return std::vector<double>(t.begin(), t.end());
}

/// Checks dL/dz of `loss(z, dz)` (double) against central differences of its value.
template <typename Loss>
void check_finite_differences(Tensor<double> z, Loss loss) {
  Tensor<double> grad(z.shape());
  loss(z, grad.view());
  const double h = 1e-6;
  for (std::size_t i = 0; i < z.size(); ++i) {
    const double saved = z[i];
    z[i] = saved + h;
    const double plus = loss(z, TensorView<double>());
    z[i] = saved - h;
    const double minus = loss(z, TensorView<double>());
    z[i] = saved;
    CHECK(grad[i] == Approx((plus - minus) / (2 * h)).margin(1e-8));
  }
}

}  // namespace

TEMPLATE_TEST_CASE("MSE, BCE with logits and cross-entropy with sample weights match PyTorch",
                   "[losses][golden][weights]", float, double) {
  const auto file = sample_weighted_reference();
  const Tensor<TestType> z = file.read_as<TestType>("logits"), t = file.read_as<TestType>("targets");
  const Tensor<float> s = file.read_as<float>("sample_weights");
  const Tensor<double> label_values = file.read_as<double>("labels");
  Tensor<std::int32_t> labels(label_values.shape());
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<std::int32_t>(label_values[i]);
  const MeanSquaredError<TestType> mse;
  const BinaryCrossEntropyWithLogits<TestType> bce, bce_pos(as_vector(file.read_as<double>("pos_weight")));
  const SoftmaxCrossEntropy<TestType> ce, ce_class(as_vector(file.read_as<double>("class_weights")));
  const double tolerance = test::parity_tolerance<TestType>();
  const auto check_case = [&](const char* name, auto compute) {
    INFO(name);
    Tensor<TestType> grad(z.shape());
    const double value = static_cast<double>(compute(grad.view()));
    const double expected = file.read_as<double>(std::string(name) + "_loss")[0];
    CHECK(std::abs(value - expected) <= tolerance * std::abs(expected));
    CHECK(test::relative_error(grad, file.read_as<double>(std::string(name) + "_grad")) <= tolerance);
  };
  check_case("mse", [&](TensorView<TestType> g) { return mse(z.view(), t.view(), g); });
  check_case("mse_weighted", [&](TensorView<TestType> g) { return mse(z.view(), t.view(), g, s.view()); });
  check_case("bce", [&](TensorView<TestType> g) { return bce(z.view(), t.view(), g); });
  check_case("bce_pos", [&](TensorView<TestType> g) { return bce_pos(z.view(), t.view(), g); });
  check_case("bce_pos_weighted",
             [&](TensorView<TestType> g) { return bce_pos(z.view(), t.view(), g, s.view()); });
  check_case("ce_weighted", [&](TensorView<TestType> g) { return ce(z.view(), labels.view(), g, s.view()); });
  check_case("ce_class_sample_weighted",
             [&](TensorView<TestType> g) { return ce_class(z.view(), labels.view(), g, s.view()); });
}

TEST_CASE("MSE, BCE with logits and weighted cross-entropy: gradients match finite differences",
          "[losses][gradcheck][weights]") {
  const Tensor<double> z = test::random_tensor<double>(Shape{5, 3}, 41, -4, 4);
  const Tensor<double> t = test::random_tensor<double>(Shape{5, 3}, 42, 0, 1);
  const Tensor<float> s(Shape{5}, {1.0f, 0.25f, 0.0f, 2.0f, 1.5f});
  const Tensor<std::int32_t> labels(Shape{5}, {2, 0, 1, 1, 2});
  const MeanSquaredError<double> mse;
  const BinaryCrossEntropyWithLogits<double> bce({0.5, 3.0, 1.0});
  const SoftmaxCrossEntropy<double> ce({2.0, 0.5, 1.0});
  for (const bool weighted : {false, true}) {
    INFO((weighted ? "with" : "without") << " sample weights");
    const TensorView<const float> w = weighted ? s.view() : TensorView<const float>();
    check_finite_differences(
        z, [&](const Tensor<double>& x, TensorView<double> g) { return mse(x.view(), t.view(), g, w); });
    check_finite_differences(
        z, [&](const Tensor<double>& x, TensorView<double> g) { return bce(x.view(), t.view(), g, w); });
    check_finite_differences(
        z, [&](const Tensor<double>& x, TensorView<double> g) { return ce(x.view(), labels.view(), g, w); });
  }
}

TEST_CASE("A sample weight of 2 counts an item twice; weights of 1 change no bit", "[losses][weights]") {
  // Items {0, 1, 2} with weights {1, 2, 1} against items {0, 1, 1, 2} unweighted: the same mean
  // loss and, summed over the copies, the same gradient.
  const Tensor<double> z = test::random_tensor<double>(Shape{3, 4}, 51, -3, 3);
  const Tensor<double> t = test::random_tensor<double>(Shape{3, 4}, 52, 0, 1);
  Tensor<double> z4(Shape{4, 4}), t4(Shape{4, 4});
  const std::size_t rows[] = {0, 1, 1, 2};
  for (std::size_t r = 0; r < 4; ++r)
    for (std::size_t j = 0; j < 4; ++j) {
      z4[r * 4 + j] = z[rows[r] * 4 + j];
      t4[r * 4 + j] = t[rows[r] * 4 + j];
    }
  const Tensor<float> twice(Shape{3}, {1, 2, 1}), ones(Shape{3}, {1, 1, 1});
  const Tensor<std::int32_t> labels(Shape{3}, {3, 0, 2}), labels4(Shape{4}, {3, 0, 0, 2});
  const auto compare = [&](auto loss_of) {
    Tensor<double> g(z.shape()), g4(z4.shape());
    CHECK(loss_of(z.view(), t.view(), labels.view(), g.view(), twice.view()) ==
          Approx(loss_of(z4.view(), t4.view(), labels4.view(), g4.view(), TensorView<const float>()))
              .epsilon(1e-12));
    for (std::size_t j = 0; j < 4; ++j) {
      CHECK(g[j] == Approx(g4[j]).epsilon(1e-12));
      CHECK(g[4 + j] == Approx(g4[4 + j] + g4[8 + j]).epsilon(1e-12));
      CHECK(g[8 + j] == Approx(g4[12 + j]).epsilon(1e-12));
    }
    Tensor<double> plain(z.shape()), one(z.shape());
    CHECK(loss_of(z.view(), t.view(), labels.view(), plain.view(), TensorView<const float>()) ==
          loss_of(z.view(), t.view(), labels.view(), one.view(), ones.view()));
    CHECK(std::equal(plain.begin(), plain.end(), one.begin()));
  };
  compare([](auto x, auto y, auto, auto g, auto w) { return MeanSquaredError<double>()(x, y, g, w); });
  compare([](auto x, auto y, auto, auto g, auto w) {
    return BinaryCrossEntropyWithLogits<double>()(x, y, g, w);
  });
  compare([](auto x, auto, auto l, auto g, auto w) { return SoftmaxCrossEntropy<double>()(x, l, g, w); });
}

TEST_CASE("BCE with logits is exact and finite for logits of +-1e4", "[losses]") {
  // softplus(1e4) = 1e4 exactly in double; the naive log(sigmoid(-1e4)) would be log(0) = -inf.
  const Tensor<float> z(Shape{1, 4}, {1e4f, -1e4f, 1e4f, -1e4f});
  const Tensor<float> t(Shape{1, 4}, {1, 0, 0, 1});
  Tensor<float> grad(z.shape());
  const float value = BinaryCrossEntropyWithLogits<float>()(z.view(), t.view(), grad.view());
  CHECK(value == Approx((0 + 0 + 1e4 + 1e4) / 4.0).epsilon(1e-7));
  CHECK(grad[0] == 0.0f);
  CHECK(grad[1] == 0.0f);
  CHECK(grad[2] == Approx(0.25).epsilon(1e-7));   // sigma(z) / 4
  CHECK(grad[3] == Approx(-0.25).epsilon(1e-7));  // -sigma(-z) / 4
}

TEST_CASE("The losses reject bad targets, shapes and weights clearly", "[losses][errors]") {
  const Tensor<float> z(Shape{2, 3}), t(Shape{2, 3});
  const MeanSquaredError<float> mse;
  CHECK_THROWS_WITH(mse(z.view(), Tensor<float>(Shape{2, 4}).view()),
                    "MeanSquaredError: expected targets (2, 3) like the outputs, got (2, 4)");
  CHECK_THROWS_WITH(mse(Tensor<float>(Shape{6}).view(), Tensor<float>(Shape{6}).view()),
                    Contains("expected outputs (N, K)"));
  CHECK_THROWS_WITH(mse(z.view(), t.view(), Tensor<float>(Shape{3, 2}).view()),
                    Contains("expected a gradient (2, 3)"));
  const Tensor<float> nan_target(Shape{2, 3}, {0, 0, 0, 0, std::nanf(""), 0});
  CHECK_THROWS_WITH(BinaryCrossEntropyWithLogits<float>()(z.view(), nan_target.view()),
                    "BinaryCrossEntropyWithLogits: target nan of item 1, output 1 is not finite");
  CHECK_THROWS_WITH(BinaryCrossEntropyWithLogits<float>({1, 2})(z.view(), t.view()),
                    Contains("2 positive weights for logits (2, 3)"));
  CHECK_THROWS_WITH(BinaryCrossEntropyWithLogits<float>({1, -2, 1}), Contains("pos_weight 1 is -2"));
  const Tensor<std::int32_t> labels(Shape{2}, {0, 1});
  CHECK_THROWS_WITH(mse(z.view(), t.view(), {}, Tensor<float>(Shape{3}).view()),
                    "MeanSquaredError: expected sample weights (2), one per item, got (3)");
  CHECK_THROWS_WITH(mse(z.view(), t.view(), {}, Tensor<float>(Shape{2}, {1, -1}).view()),
                    Contains("sample weight -1 of item 1"));
  CHECK_THROWS_WITH(mse(z.view(), t.view(), {}, Tensor<float>(Shape{2}, {0, 0}).view()),
                    Contains("sample weights sum to 0"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>()(z.view(), labels.view(), {},
                                                 Tensor<float>(Shape{2}, {1, INFINITY}).view()),
                    Contains("sample weight inf of item 1; weights must be finite"));
  CHECK_THROWS_WITH(SoftmaxCrossEntropy<float>()(z.view(), labels.view(), {}, Tensor<float>(Shape{2}).view()),
                    Contains("the batch's weights sum to 0"));
}
