// Tests of the study's verdicts on the reference study's claims (examples/study/findings.hpp), on
// made-up results whose answer is known: each verdict is reached, and only when the numbers say so.
#include "test_support.hpp"

#include "../examples/study/findings.hpp"

using namespace study;

namespace {

/// A model's results: one run per test accuracy, each kept at epoch 2 of 3 with the given
/// training and validation accuracies there (the gap, in points, is their difference).
ModelResult model(const std::string& name, std::vector<double> accuracies, double train_acc, double val_acc) {
  ModelResult m;
  m.name = name;
  m.params = 100000;
  for (double accuracy : accuracies) {
    Run r;
    for (std::size_t e = 0; e < 3; ++e) {
      EpochLogs logs;
      logs.epoch = e;
      logs.accuracy = train_acc;
      logs.val_accuracy = val_acc;
      logs.has_validation = true;
      r.history.epochs.push_back(logs);
    }
    r.best_epoch = 2;
    r.epochs_run = 3;
    r.test_accuracy = accuracy;
    m.runs.push_back(r);
  }
  return m;
}

const std::string holds = "holds here", fails = "does not hold here",
                  unknown = "cannot be told from this run";

}  // namespace

TEST_CASE("Balance claim: a model both more accurate and generalising as well refutes it",
          "[study][claims]") {
  const auto verdicts = claims({model("mlp", {0.886}, 0.90, 0.89), model("basic_cnn", {0.915}, 0.947, 0.918),
                                model("deeper_cnn", {0.937}, 0.952, 0.941)});
  REQUIRE(verdicts.size() == 2);
  CHECK(verdicts[0].verdict == fails);
  CHECK_THAT(verdicts[0].reason, Catch::Matchers::Contains("deeper_cnn is both more accurate"));
  CHECK(verdicts[1].verdict == unknown);  // one seed it won: consistency not measured
}

TEST_CASE("Balance claim: a more accurate model that overfits more is a trade-off", "[study][claims]") {
  const auto verdicts =
      claims({model("basic_cnn", {0.915}, 0.93, 0.92), model("deeper_cnn", {0.937}, 0.99, 0.94)});
  CHECK(verdicts[0].verdict == unknown);
  CHECK_THAT(verdicts[0].reason, Catch::Matchers::Contains("trade-off"));
}

TEST_CASE("Balance claim holds when nothing is more accurate beyond the noise", "[study][claims]") {
  // +0.3 points with one seed is within the 0.5-point typical spread, though it generalises better.
  const auto verdicts =
      claims({model("basic_cnn", {0.915}, 0.95, 0.92), model("deeper_cnn", {0.918}, 0.93, 0.925)});
  CHECK(verdicts[0].verdict == holds);
  CHECK(verdicts[1].verdict == unknown);
}

TEST_CASE("Consistency claim: decided by the seeds", "[study][claims]") {
  SECTION("the deeper CNN lost once: it did not consistently outperform") {
    const auto v = claims({model("basic_cnn", {0.915, 0.920, 0.918}, 0.95, 0.92),
                           model("deeper_cnn", {0.930, 0.917, 0.935}, 0.95, 0.93)});
    CHECK(v[1].verdict == holds);
    CHECK_THAT(v[1].reason, Catch::Matchers::Contains("better with 2 of 3 seeds"));
  }
  SECTION("it won every seed by far more than the spread: the claim fails") {
    const auto v = claims({model("basic_cnn", {0.915, 0.916, 0.914}, 0.95, 0.92),
                           model("deeper_cnn", {0.937, 0.938, 0.936}, 0.95, 0.93)});
    CHECK(v[1].verdict == fails);
  }
  SECTION("it won every seed, but by less than twice the standard error: not consistent") {
    const auto v = claims({model("basic_cnn", {0.900, 0.930, 0.910}, 0.95, 0.92),
                           model("deeper_cnn", {0.905, 0.935, 0.915}, 0.95, 0.93)});
    CHECK(v[1].verdict == holds);
    CHECK_THAT(v[1].reason, Catch::Matchers::Contains("within twice the standard error"));
  }
  SECTION("one seed that the deeper CNN lost is enough") {
    const auto v =
        claims({model("basic_cnn", {0.920}, 0.95, 0.92), model("deeper_cnn", {0.915}, 0.95, 0.93)});
    CHECK(v[1].verdict == holds);
  }
}

TEST_CASE("Claims without the models they are about cannot be told", "[study][claims]") {
  const auto v = claims({model("mlp", {0.886}, 0.90, 0.89)});
  CHECK(v[0].verdict == unknown);
  CHECK(v[1].verdict == unknown);
}

TEST_CASE("Generalisation gap at the kept and the last epoch, mean over seeds", "[study]") {
  ModelResult m = model("basic_cnn", {0.91, 0.92}, 0.95, 0.92);
  m.runs[1].history.epochs[2].accuracy = 0.99;  // the second seed ends overfitting
  const Generalisation g = generalisation(m);
  CHECK(g.gap_best() == Approx(3.0));
  CHECK(g.gap_end() == Approx((3.0 + 7.0) / 2));
}
