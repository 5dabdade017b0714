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
                    Contains("batch's class weights sum to 0"));
}
