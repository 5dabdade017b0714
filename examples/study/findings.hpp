#pragma once
// The study's findings and the verdicts on the reference study's claims, each sentence computed
// from the numbers (no conclusion is written by hand).

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "results.hpp"

namespace study {

/// With one seed, an accuracy difference under this many points is within typical seed-to-seed
/// noise (a few tenths of a point for these models: docs/fashion_mnist.md), so no claim rests on it.
inline constexpr double one_seed_noise_points = 0.5;

/// A difference of mean test accuracy, a - b, and whether it is larger than the seed spread.
struct Difference {
  double points = 0;                ///< a - b, in points of accuracy
  double se_points = 0;             ///< standard error of the difference of means (0 with one seed)
  bool measured = false;            ///< both models ran with more than one seed
  std::size_t wins = 0, pairs = 0;  ///< seeds (paired by index) on which a beat b

  /// a is ahead by more than the noise: twice the standard error, or with one seed the typical spread.
  bool a_clearly_better() const { return points > (measured ? 2 * se_points : one_seed_noise_points); }
  bool b_clearly_better() const { return -points > (measured ? 2 * se_points : one_seed_noise_points); }
};

inline Difference difference(const ModelResult& a, const ModelResult& b) {
  Difference d;
  d.points = 100 * (a.mean(&Run::test_accuracy) - b.mean(&Run::test_accuracy));
  d.measured = a.runs.size() > 1 && b.runs.size() > 1;
  if (d.measured)
    d.se_points = 100 * std::sqrt(std::pow(a.stddev(&Run::test_accuracy), 2) / a.runs.size() +
                                  std::pow(b.stddev(&Run::test_accuracy), 2) / b.runs.size());
  d.pairs = std::min(a.runs.size(), b.runs.size());
  for (std::size_t k = 0; k < d.pairs; ++k) d.wins += a.runs[k].test_accuracy > b.runs[k].test_accuracy;
  return d;
}

/// Training vs validation accuracy at the kept (best) epoch and at the last one, mean over seeds.
/// Training accuracy is the running mean over the epoch's batches with Dropout active (as Keras
/// reports it), so for a model with Dropout the gap understates how well it fits the training set.
struct Generalisation {
  double train_best = 0, val_best = 0, train_end = 0, val_end = 0;
  double gap_best() const { return 100 * (train_best - val_best); }  ///< points
  double gap_end() const { return 100 * (train_end - val_end); }     ///< points
};

inline Generalisation generalisation(const ModelResult& m) {
  Generalisation g;
  for (const Run& r : m.runs) {
    const EpochLogs &best = r.history.epochs.at(r.best_epoch - 1), &last = r.history.epochs.back();
    g.train_best += best.accuracy, g.val_best += best.val_accuracy;
    g.train_end += last.accuracy, g.val_end += last.val_accuracy;
  }
  const double n = static_cast<double>(m.runs.size());
  g.train_best /= n, g.val_best /= n, g.train_end /= n, g.val_end /= n;
  return g;
}

/// What the numbers say of one claim of the reference study.
struct Claim {
  std::string claim;    ///< the study's words
  std::string verdict;  ///< "holds here", "does not hold here", "cannot be told from this run"
  std::string reason;   ///< the numbers behind the verdict
};

inline std::string signed_points(double points) {
  return (points >= 0 ? "+" : "") + fixed(points, 2) + " points";
}

/// The reference study's two claims about the CNNs, tested on this run's numbers.
inline std::vector<Claim> claims(const std::vector<ModelResult>& results) {
  const std::string holds = "holds here", fails = "does not hold here",
                    unknown = "cannot be told from this run";
  const ModelResult* basic = nullptr;
  const ModelResult* deeper = nullptr;
  for (const auto& m : results) {
    if (m.name == "basic_cnn") basic = &m;
    if (m.name == "deeper_cnn") deeper = &m;
  }
  std::vector<Claim> out;
  const std::string balance = "The basic CNN gives the best balance between accuracy and generalization.";
  const std::string consistent = "The deeper CNN did not consistently outperform the basic CNN.";
  if (!basic || results.size() < 2) {
    out.push_back({balance, unknown, "it needs basic_cnn and at least one other model (--models)."});
  } else {
    // Best balance: no other model is clearly more accurate while generalising at least as well
    // (a train-validation gap no larger), and none is clearly more accurate at all.
    const Generalisation gb = generalisation(*basic);
    std::string dominated_by, traded_with, reasons;
    for (const auto& m : results) {
      if (&m == basic) continue;
      const Difference d = difference(m, *basic);
      const Generalisation gm = generalisation(m);
      reasons += (reasons.empty() ? "" : "; ") + m.name + " " + signed_points(d.points) +
                 " of test accuracy, train-validation gap at the kept epoch " + fixed(gm.gap_best(), 2) +
                 " vs " + fixed(gb.gap_best(), 2) + " points";
      if (d.a_clearly_better()) (gm.gap_best() <= gb.gap_best() ? dominated_by : traded_with) = m.name;
    }
    const std::string noise =
        basic->runs.size() > 1
            ? "twice the standard error over the seeds"
            : "the typical seed spread, " + fixed(one_seed_noise_points, 1) + " points with one seed";
    if (!dominated_by.empty())
      out.push_back({balance, fails,
                     dominated_by + " is both more accurate (beyond " + noise +
                         ") and generalises at least as well: " + reasons + "."});
    else if (!traded_with.empty())
      out.push_back(
          {balance, unknown,
           "a trade-off: " + traded_with + " is more accurate (beyond " + noise +
               ") but overfits more, so which balance is best depends on the weight given to each: " +
               reasons + "."});
    else
      out.push_back({balance, holds, "no model is more accurate beyond " + noise + ": " + reasons + "."});
  }
  if (!basic || !deeper) {
    out.push_back({consistent, unknown, "it needs both basic_cnn and deeper_cnn (--models)."});
  } else {
    const Difference d = difference(*deeper, *basic);
    const std::string tally = "deeper_cnn " + signed_points(d.points) + " over basic_cnn, better with " +
                              std::to_string(d.wins) + " of " + std::to_string(d.pairs) +
                              (d.pairs == 1 ? " seed" : " seeds");
    if (d.wins < d.pairs)
      out.push_back({consistent, holds, tally + ": it did not outperform it every time."});
    else if (!d.measured)
      out.push_back({consistent, unknown,
                     tally + "; whether it does so consistently needs several seeds (--repeats 3 trains each "
                             "model with 3 and measures the spread)."});
    else if (d.a_clearly_better())
      out.push_back({consistent, fails,
                     tally + ", by more than twice the standard error of the difference (" +
                         fixed(d.se_points, 2) + " points): it outperformed it consistently."});
    else
      out.push_back({consistent, holds,
                     tally + ", but within twice the standard error of the difference (" +
                         fixed(d.se_points, 2) + " points): not a consistent difference."});
  }
  return out;
}

/// The findings, each computed from the numbers.
inline std::vector<std::string> findings(const std::vector<ModelResult>& results,
                                         const Dataset<std::uint8_t>& test) {
  std::vector<std::string> out;
  auto find = [&](const std::string& name) -> const ModelResult* {
    for (const auto& m : results)
      if (m.name == name) return &m;
    return nullptr;
  };
  // A difference is "clear" when it exceeds twice the standard error of the difference of means.
  auto compare = [&](const ModelResult& a, const ModelResult& b) {
    const Difference d = difference(a, b);
    std::string text = a.name + " vs " + b.name + ": " + signed_points(d.points) + " of test accuracy (" +
                       percent(a.mean(&Run::test_accuracy)) + " vs " + percent(b.mean(&Run::test_accuracy)) +
                       ")";
    if (d.measured) {
      text += d.a_clearly_better() || d.b_clearly_better()
                  ? "; larger than twice its standard error (" + fixed(d.se_points, 2) +
                        " points): a clear difference"
                  : "; within twice its standard error (" + fixed(d.se_points, 2) +
                        " points): not a consistent difference";
      text += "; " + a.name + " was better with " + std::to_string(d.wins) + " of " +
              std::to_string(d.pairs) + " seeds";
    } else {
      text += std::abs(d.points) < one_seed_noise_points
                  ? "; with one seed, a gap under half a point is within typical seed-to-seed noise (use "
                    "--repeats "
                    "to measure it)"
                  : "; one seed only (use --repeats to measure the seed-to-seed spread)";
    }
    return text + ".";
  };
  const ModelResult *mlp = find("mlp"), *basic = find("basic_cnn"), *deeper = find("deeper_cnn"),
                    *resnet = find("resnet");
  std::vector<const ModelResult*> ranked;
  for (const auto& m : results) ranked.push_back(&m);
  std::sort(ranked.begin(), ranked.end(),
            [](auto* a, auto* b) { return a->mean(&Run::test_accuracy) > b->mean(&Run::test_accuracy); });
  std::string ranking = "Ranking by test accuracy: ";
  for (std::size_t i = 0; i < ranked.size(); ++i)
    ranking +=
        (i ? " > " : "") + ranked[i]->name + " (" + percent(ranked[i]->mean(&Run::test_accuracy)) + ")";
  out.push_back(ranking + ".");
  if (mlp && basic) out.push_back(compare(*basic, *mlp));
  if (mlp && deeper) out.push_back(compare(*deeper, *mlp));
  if (basic && deeper) out.push_back(compare(*deeper, *basic));
  // The study's question asked again where depth can train: 14 weight layers with identity paths
  // for the gradient against deeper_cnn's 6.
  if (resnet && deeper)
    out.push_back(
        "Is deeper better where depth can train? resnet (14 weight layers, residual blocks) vs "
        "deeper_cnn (6): " +
        compare(*resnet, *deeper));
  for (const auto& m : results) {
    const Run& r = m.runs.front();
    const Generalisation g = generalisation(m);
    const double gap = g.gap_best();
    out.push_back(m.name + ": best validation loss at epoch " + std::to_string(r.best_epoch) + " of " +
                  std::to_string(r.epochs_run) + " run" + (m.runs.size() > 1 ? " (first seed)" : "") +
                  "; at that epoch training accuracy " + percent(g.train_best) + " vs validation " +
                  percent(g.val_best) + " (gap " + fixed(gap, 2) + " points" +
                  (gap > 3   ? ", clear overfitting"
                   : gap > 1 ? ", mild overfitting"
                             : ", little overfitting") +
                  "), at the last epoch " + percent(g.train_end) + " vs " + percent(g.val_end) + " (gap " +
                  fixed(g.gap_end(), 2) + " points).");
  }
  const ModelResult* slowest = &results.front();
  const ModelResult* fastest = &results.front();
  for (const auto& m : results) {
    if (m.mean(&Run::seconds_per_epoch) > slowest->mean(&Run::seconds_per_epoch)) slowest = &m;
    if (m.mean(&Run::seconds_per_epoch) < fastest->mean(&Run::seconds_per_epoch)) fastest = &m;
  }
  if (slowest != fastest)
    out.push_back("Cost: " + slowest->name + " takes " + fixed(slowest->mean(&Run::seconds_per_epoch), 1) +
                  " s per epoch, " +
                  fixed(slowest->mean(&Run::seconds_per_epoch) / fastest->mean(&Run::seconds_per_epoch), 1) +
                  "x the " + fixed(fastest->mean(&Run::seconds_per_epoch), 1) + " s of " + fastest->name +
                  ".");
  // The classes the best model confuses most.
  const ModelResult& top = *ranked.front();
  const metrics::ConfusionMatrix cm(top.predicted, test.labels().view(), 10);
  std::size_t worst_t = 0, worst_p = 1, weakest = 0;
  for (std::size_t t = 0; t < 10; ++t) {
    if (cm.recall(t) < cm.recall(weakest)) weakest = t;
    for (std::size_t p = 0; p < 10; ++p)
      if (t != p && cm.count(t, p) > cm.count(worst_t, worst_p)) worst_t = t, worst_p = p;
  }
  out.push_back("Hardest class for " + top.name + ": " + class_name(weakest) + " (recall " +
                percent(cm.recall(weakest), 1) + "); its most frequent confusion is " + class_name(worst_t) +
                " taken for " + class_name(worst_p) + " (" + std::to_string(cm.count(worst_t, worst_p)) +
                " of " + std::to_string(cm.support(worst_t)) + " test images).");
  return out;
}

}  // namespace study
