// Tests of include/tinydl/metrics against hand-computed values.
#include "test_support.hpp"

using namespace tinydl;
using Catch::Matchers::Contains;

TEST_CASE("Accuracy and top-k accuracy count what they should", "[metrics]") {
  // 4 examples, 3 classes.
  const Tensor<float> scores(Shape{4, 3}, {0.7f, 0.2f, 0.1f,    // predicts 0, label 0: top-1 hit
                                           0.1f, 0.3f, 0.6f,    // predicts 2, label 1: top-2 hit
                                           0.5f, 0.4f, 0.1f,    // predicts 0, label 2: top-3 only
                                           0.2f, 0.2f, 0.6f});  // predicts 2, label 2: hit
  const Tensor<std::int32_t> labels(Shape{4}, {0, 1, 2, 2});
  CHECK(metrics::accuracy(scores.view(), labels.view()) == 0.5);
  CHECK(metrics::top_k_accuracy(scores.view(), labels.view(), 2) == 0.75);
  CHECK(metrics::top_k_accuracy(scores.view(), labels.view(), 3) == 1.0);
  CHECK(metrics::predicted_classes(scores.view()) == std::vector<std::int32_t>{0, 2, 0, 2});
  CHECK_THROWS_AS(metrics::top_k_accuracy(scores.view(), labels.view(), 4), ConfigError);
  const Tensor<std::int32_t> bad(Shape{4}, {0, 1, 2, 3});
  CHECK_THROWS_WITH(metrics::accuracy(scores.view(), bad.view()), Contains("label 3 of example 3"));
}

TEST_CASE("Confusion matrix, precision, recall and F1 match a hand-computed example", "[metrics]") {
  // true:      0 0 0 1 1 2 2 2 2
  // predicted: 0 0 1 1 2 2 2 2 0
  const std::vector<std::int32_t> predicted{0, 0, 1, 1, 2, 2, 2, 2, 0};
  const Tensor<std::int32_t> truth(Shape{9}, {0, 0, 0, 1, 1, 2, 2, 2, 2});
  const metrics::ConfusionMatrix m(predicted, truth.view(), 3);
  CHECK(m.count(0, 0) == 2);
  CHECK(m.count(0, 1) == 1);
  CHECK(m.count(1, 2) == 1);
  CHECK(m.count(2, 0) == 1);
  CHECK(m.count(2, 2) == 3);
  CHECK(m.total() == 9);
  CHECK(m.accuracy() == Approx(6.0 / 9));
  // class 0: TP 2, predicted 3 (two 0s + the 2->0), support 3
  CHECK(m.precision(0) == Approx(2.0 / 3));
  CHECK(m.recall(0) == Approx(2.0 / 3));
  // class 1: TP 1, predicted 2, support 2
  CHECK(m.precision(1) == Approx(0.5));
  CHECK(m.recall(1) == Approx(0.5));
  // class 2: TP 3, predicted 4, support 4
  CHECK(m.precision(2) == Approx(0.75));
  CHECK(m.recall(2) == Approx(0.75));
  CHECK(m.f1(2) == Approx(0.75));
  CHECK(m.macro_f1() == Approx((2.0 / 3 + 0.5 + 0.75) / 3));
  // A class never predicted and never present has precision, recall and F1 0, not NaN.
  metrics::ConfusionMatrix sparse(4);
  sparse.add(0, 0);
  CHECK(sparse.precision(3) == 0.0);
  CHECK(sparse.f1(3) == 0.0);
  CHECK_THROWS_AS(sparse.add(0, 4), Error);
}
