// Tests of include/tinydl/optim: Adam and AdamW against PyTorch, SGD against hand-computed steps,
// learning-rate changes and misuse.
#include <cmath>
#include <memory>

#include "test_support.hpp"

using namespace tinydl;
using Catch::Matchers::Contains;

namespace {

/// Runs the three steps of a golden optimizer file and compares the parameter after each.
template <typename T>
void check_optimizer_file(Optimizer<T>& optimizer, const io::SafetensorsFile& file) {
  Tensor<T> value = file.read_as<T>("param0");
  Tensor<T> grad(value.shape());
  const std::vector<Param<T>> params{{"p", value.view(), grad.view()}};
  for (int step = 1; step <= 3; ++step) {
    INFO(file.source() << " step " << step);
    file.read_into("grad" + std::to_string(step), grad.view());
    optimizer.step(params);
    CHECK(test::relative_error(value, file.read_as<double>("param" + std::to_string(step))) <=
          test::parity_tolerance<T>());
  }
  CHECK(optimizer.iterations() == 3);
}

}  // namespace

TEMPLATE_TEST_CASE("Adam and AdamW match PyTorch over three steps", "[optim][golden]", float, double) {
  const auto adam_file = test::golden("adam");
  Adam<TestType> adam(std::stod(adam_file.metadata().at("lr")), 0.9, 0.999, 1e-8);
  check_optimizer_file(adam, adam_file);

  const auto adamw_file = test::golden("adamw");
  AdamW<TestType> adamw(std::stod(adamw_file.metadata().at("lr")), 0.9, 0.999, 1e-8,
                        std::stod(adamw_file.metadata().at("weight_decay")));
  CHECK(adamw.type() == "AdamW");
  check_optimizer_file(adamw, adamw_file);
}

TEST_CASE("Adam's first step moves every parameter by about lr against its gradient's sign", "[optim]") {
  Tensor<double> value(Shape{3}, {1.0, 2.0, -3.0}), grad(Shape{3}, {0.5, -20.0, 1e-3});
  Adam<double> adam(0.1);
  adam.step({{"w", value.view(), grad.view()}});
  // m_hat = g, v_hat = g^2, so the step is lr * g / (|g| + eps).
  CHECK(value[0] == Approx(0.9).epsilon(1e-7));
  CHECK(value[1] == Approx(2.1).epsilon(1e-7));
  CHECK(value[2] == Approx(-3.1).epsilon(1e-5));
}

TEST_CASE("Adam's vectorised, threaded update matches the formula in double on long tensors", "[optim]") {
  // 100,003 elements: several vector widths, a scalar tail, and enough work for every thread.
  const std::size_t n = 100003;
  for (const bool decoupled : {false, true}) {
    INFO((decoupled ? "AdamW" : "Adam"));
    Tensor<float> value = test::random_tensor<float>(Shape{n}, 1),
                  grad = test::random_tensor<float>(Shape{n}, 2);
    std::vector<double> p(value.begin(), value.end()), m(n, 0.0), v(n, 0.0);
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.05;
    std::unique_ptr<Optimizer<float>> optimizer;
    if (decoupled)
      optimizer = std::make_unique<AdamW<float>>(lr, b1, b2, eps, wd);
    else
      optimizer = std::make_unique<Adam<float>>(lr, b1, b2, eps, wd);
    for (int t = 1; t <= 3; ++t) {
      optimizer->step({{"w", value.view(), grad.view()}});
      for (std::size_t i = 0; i < n; ++i) {
        double g = grad[i];
        if (decoupled)
          p[i] *= 1 - lr * wd;
        else
          g += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        p[i] -= lr / (1 - std::pow(b1, t)) * m[i] / (std::sqrt(v[i]) / std::sqrt(1 - std::pow(b2, t)) + eps);
      }
    }
    double worst = 0;
    // Parameters are O(1) and move by O(lr) per step: a few float roundings of 1 is the bound.
    for (std::size_t i = 0; i < n; ++i)
      worst = std::max(worst, std::abs(value[i] - p[i]) / (1 + std::abs(p[i])));
    CHECK(worst < 1e-6);
  }
}

TEST_CASE("Optimizer updates do not depend on the thread count", "[optim][determinism]") {
  const std::size_t n = 200001;
  std::vector<float> results[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor<float> value = test::random_tensor<float>(Shape{n}, 3),
                  grad = test::random_tensor<float>(Shape{n}, 4);
    Adam<float> adam(1e-3);
    SGD<float> sgd(1e-2, 0.9, true, 1e-4);
    for (int t = 0; t < 2; ++t) {
      adam.step({{"w", value.view(), grad.view()}});
      sgd.step({{"w", value.view(), grad.view()}});
    }
    results[threads - 1].assign(value.begin(), value.end());
  }
  set_num_threads(2);
  CHECK(results[0] == results[1]);
}

TEST_CASE("SGD, momentum and Nesterov follow their update rules", "[optim]") {
  // Gradient 1 at every step, lr 0.1, momentum 0.9. Momentum buffer: 1, 1.9, 2.71.
  Tensor<double> plain(Shape{1}, {0.0}), heavy(Shape{1}, {0.0}), nesterov(Shape{1}, {0.0}),
      grad(Shape{1}, {1.0});
  SGD<double> sgd(0.1), momentum(0.1, 0.9), nag(0.1, 0.9, true);
  for (int step = 0; step < 3; ++step) {
    sgd.step({{"w", plain.view(), grad.view()}});
    momentum.step({{"w", heavy.view(), grad.view()}});
    nag.step({{"w", nesterov.view(), grad.view()}});
  }
  CHECK(plain[0] == Approx(-0.3));
  CHECK(heavy[0] == Approx(-0.1 * (1 + 1.9 + 2.71)));
  // Nesterov steps with g + 0.9 * buffer: 1.9, 2.71, 3.439.
  CHECK(nesterov[0] == Approx(-0.1 * (1.9 + 2.71 + 3.439)));

  Tensor<double> decayed(Shape{1}, {2.0}), zero(Shape{1}, {0.0});
  SGD<double> weight_decay(0.1, 0, false, 0.5);
  weight_decay.step({{"w", decayed.view(), zero.view()}});
  CHECK(decayed[0] == Approx(2.0 - 0.1 * 0.5 * 2.0));
}

TEST_CASE("Optimizers skip untrained state, take learning-rate changes, and reject misuse", "[optim]") {
  Tensor<float> value(Shape{2}, {1, 1}), grad(Shape{2}, {1, 1}), running(Shape{2}, {5, 5});
  SGD<float> sgd(0.5);
  const std::vector<Param<float>> params{{"w", value.view(), grad.view()}, {"running_mean", running.view()}};
  sgd.step(params);
  CHECK(value[0] == 0.5f);
  CHECK(running[0] == 5.0f);
  sgd.set_learning_rate(0.25);
  sgd.step(params);
  CHECK(value[0] == 0.25f);
  CHECK(sgd.learning_rate() == 0.25);
  CHECK_THROWS_AS(sgd.set_learning_rate(-1), ConfigError);
  CHECK_THROWS_AS(sgd.set_learning_rate(std::nan("")), ConfigError);

  Tensor<float> other(Shape{3}), other_grad(Shape{3});
  Adam<float> adam;
  adam.step(params);
  CHECK_THROWS_WITH(adam.step({{"w", other.view(), other_grad.view()}}),
                    Contains("use one optimizer per model"));
  CHECK_THROWS_AS(Adam<float>(1e-3, 1.0), ConfigError);
  CHECK_THROWS_AS(SGD<float>(0.1, 0, true), ConfigError);
}

TEST_CASE("Gradient clipping scales all gradients to the global norm, as clip_grad_norm_", "[optim][clip]") {
  // Two parameters with gradients (3, 4) and (12): global norm 13. Clipped to 6.5: halved.
  Tensor<double> a(Shape{2}, {0, 0}), b(Shape{1}, {0}), ga(Shape{2}, {3, 4}), gb(Shape{1}, {12}),
      running(Shape{1}, {100});
  const std::vector<Param<double>> params{
      {"a", a.view(), ga.view()}, {"running_mean", running.view()}, {"b", b.view(), gb.view()}};
  SGD<double> sgd(1.0);
  CHECK(std::isnan(sgd.last_grad_norm()));
  sgd.set_clip_norm(6.5);
  sgd.step(params);
  CHECK(sgd.last_grad_norm() == Approx(13));
  const double c = 6.5 / (13 + 1e-6);  // PyTorch's coefficient, eps included
  CHECK(ga[0] == Approx(3 * c).epsilon(1e-15));
  CHECK(gb[0] == Approx(12 * c).epsilon(1e-15));
  CHECK(a[1] == Approx(-4 * c).epsilon(1e-15));
  CHECK(running[0] == 100);  // untrained state is neither counted nor touched
  // Under the limit nothing changes; 0 turns clipping off.
  sgd.set_clip_norm(100);
  sgd.step(params);
  CHECK(ga[0] == Approx(3 * c).epsilon(1e-15));
  sgd.set_clip_norm(0);
  CHECK(sgd.clip_norm() == 0);
  CHECK_THROWS_AS(sgd.set_clip_norm(-1), ConfigError);
  CHECK_THROWS_AS(sgd.set_clip_norm(std::nan("")), ConfigError);
}

TEST_CASE("Gradient clipping's norm does not depend on the thread count", "[optim][clip][determinism]") {
  Tensor<float> w(Shape{100003}), g = test::random_tensor<float>(Shape{100003}, 4);
  double norms[2];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    SGD<float> sgd(0.1);
    sgd.set_clip_norm(1);
    Tensor<float> grad = g;
    sgd.step({{"w", w.view(), grad.view()}});
    norms[threads - 1] = sgd.last_grad_norm();
  }
  set_num_threads(2);
  CHECK(norms[0] == norms[1]);
  double exact = 0;
  for (float v : g) exact += double(v) * double(v);
  CHECK(norms[0] == Approx(std::sqrt(exact)).epsilon(1e-12));
}
