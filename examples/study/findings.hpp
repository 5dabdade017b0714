#pragma once
// The study's findings, each sentence computed from the numbers (no claim is written by hand).

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "results.hpp"

namespace study {

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
    const double diff = a.mean(&Run::test_accuracy) - b.mean(&Run::test_accuracy);
    std::string text = a.name + " vs " + b.name + ": " + (diff >= 0 ? "+" : "") + fixed(100 * diff, 2) +
                       " points of test accuracy (" + percent(a.mean(&Run::test_accuracy)) + " vs " +
                       percent(b.mean(&Run::test_accuracy)) + ")";
    if (a.runs.size() > 1 && b.runs.size() > 1) {
      const double se = std::sqrt(std::pow(a.stddev(&Run::test_accuracy), 2) / a.runs.size() +
                                  std::pow(b.stddev(&Run::test_accuracy), 2) / b.runs.size());
      std::size_t wins = 0, pairs = std::min(a.runs.size(), b.runs.size());
      for (std::size_t k = 0; k < pairs; ++k) wins += a.runs[k].test_accuracy > b.runs[k].test_accuracy;
      text += std::abs(diff) > 2 * se ? "; larger than twice its standard error (" + fixed(100 * se, 2) +
                                            " points): a clear difference"
                                      : "; within twice its standard error (" + fixed(100 * se, 2) +
                                            " points): not a consistent difference";
      text += "; " + a.name + " was better with " + std::to_string(wins) + " of " + std::to_string(pairs) +
              " seeds";
    } else {
      text += std::abs(diff) < 0.005 ? "; with one seed, a gap under half a point is within typical "
                                       "seed-to-seed noise (use --repeats to measure it)"
                                     : "; one seed only (use --repeats to measure the seed-to-seed spread)";
    }
    return text + ".";
  };
  const ModelResult *mlp = find("mlp"), *basic = find("basic_cnn"), *deeper = find("deeper_cnn");
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
  for (const auto& m : results) {
    const Run& r = m.runs.front();
    const EpochLogs& best = r.history.epochs.at(r.best_epoch - 1);
    const double gap = best.accuracy - best.val_accuracy;
    out.push_back(m.name + ": best validation loss at epoch " + std::to_string(r.best_epoch) + " of " +
                  std::to_string(r.epochs_run) + " run; at that epoch training accuracy " +
                  percent(best.accuracy) + " vs validation " + percent(best.val_accuracy) + " (gap " +
                  fixed(100 * gap, 2) + " points" +
                  (gap > 0.03   ? ", clear overfitting"
                   : gap > 0.01 ? ", mild overfitting"
                                : ", little overfitting") +
                  ").");
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
