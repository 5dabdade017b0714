#pragma once
// What one training run and all runs of a model produce, their mean and spread over seeds, and
// the number formats the report uses.

#include <tinydl/tinydl.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace study {

using namespace tinydl;

/// The results of one training run.
struct Run {
  std::uint64_t seed = 0;
  History history;
  std::size_t epochs_run = 0, best_epoch = 0;  // best_epoch 1-based
  double train_seconds = 0, seconds_per_epoch = 0, test_loss = 0, test_accuracy = 0;
};

/// All runs of one model, and what the report needs from the first run.
struct ModelResult {
  std::string name;
  std::size_t params = 0;
  std::vector<Run> runs;
  Tensor<float> probabilities;  // test set, first run
  std::vector<std::int32_t> predicted;

  double mean(double Run::*field) const {
    double sum = 0;
    for (const Run& r : runs) sum += r.*field;
    return sum / static_cast<double>(runs.size());
  }
  double stddev(double Run::*field) const {
    if (runs.size() < 2) return 0;
    const double m = mean(field);
    double sum = 0;
    for (const Run& r : runs) sum += (r.*field - m) * (r.*field - m);
    return std::sqrt(sum / static_cast<double>(runs.size() - 1));  // sample standard deviation
  }
};

inline std::string percent(double v, int decimals = 2) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f%%", decimals, 100 * v);
  return buffer;
}

inline std::string fixed(double v, int decimals) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

/// An integer with thousands separators: 235,146.
inline std::string grouped(std::size_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

inline std::string with_spread(const ModelResult& m, double Run::*field, bool as_percent) {
  const double mean = m.mean(field), spread = m.stddev(field);
  std::string text = as_percent ? percent(mean) : fixed(mean, 4);
  if (m.runs.size() > 1) text += " +- " + (as_percent ? percent(spread) : fixed(spread, 4));
  return text;
}

inline const char* class_name(std::size_t c) {
  return datasets::fashion_mnist_classes[c];
}

}  // namespace study
