#pragma once
// The study's figures: training curves, confusion matrix, right and wrong predictions, and the
// comparison chart. Each is one function returning a viz::Figure, which the report inlines as
// SVG and save_figures writes as PNG: the two can never disagree.

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "results.hpp"

namespace study {

namespace fs = std::filesystem;

inline std::vector<double> epoch_numbers(const History& h) {
  std::vector<double> epochs;
  for (const auto& e : h.epochs) epochs.push_back(static_cast<double>(e.epoch + 1));
  return epochs;
}

inline std::vector<double> as_percent(std::vector<double> v) {
  for (double& x : v) x *= 100;
  return v;
}

/// Training vs validation loss and accuracy of the first run, the kept epoch marked.
inline viz::Figure curves_figure(const ModelResult& m) {
  const Run& r = m.runs.front();
  const History& h = r.history;
  const std::vector<double> epochs = epoch_numbers(h);
  const std::vector<viz::VerticalMark> kept{{static_cast<double>(r.best_epoch), "weights kept"}};
  viz::Figure figure(1200, 440);
  viz::plot_lines(figure, 0, 0, 600, 440, m.name + ": loss", "epoch", "cross-entropy",
                  {{"training", epochs, h.values("loss"), viz::colors::series[0], false},
                   {"validation", epochs, h.values("val_loss"), viz::colors::series[1], true}},
                  kept);
  viz::plot_lines(
      figure, 600, 0, 600, 440, m.name + ": accuracy", "epoch", "accuracy (%)",
      {{"training", epochs, as_percent(h.values("accuracy")), viz::colors::series[0], false},
       {"validation", epochs, as_percent(h.values("val_accuracy")), viz::colors::series[1], true}},
      kept);
  return figure;
}

/// The confusion matrix of the first run on the test set.
inline viz::Figure confusion_figure(const ModelResult& m, const datasets::FashionMnist& data) {
  const std::vector<std::string> names(datasets::fashion_mnist_classes.begin(),
                                       datasets::fashion_mnist_classes.end());
  const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
  return viz::confusion_heatmap(cm, names, m.name + ": confusion matrix (test set)");
}

/// Up to 24 test images classified right (or wrong), each captioned with its test index (what
/// `predict --index` takes).
inline viz::Figure examples_figure(const ModelResult& m, const datasets::FashionMnist& data, bool correct) {
  const std::size_t classes = 10;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < m.predicted.size(); ++i)
    if ((m.predicted[i] == data.test.labels()[i]) == correct) picked.push_back(i);
  auto confidence = [&](std::size_t i) {
    return m.probabilities[i * classes + static_cast<std::size_t>(m.predicted[i])];
  };
  // Correct: a spread over classes (the first examples of each class in turn); wrong: the most
  // confident mistakes, which are the instructive ones.
  if (correct) {
    std::vector<std::size_t> spread;
    for (std::size_t round = 0; spread.size() < 24 && round < picked.size(); ++round)
      for (std::size_t c = 0; c < classes && spread.size() < 24; ++c) {
        std::size_t seen = 0;
        for (std::size_t i : picked)
          if (static_cast<std::size_t>(data.test.labels()[i]) == c && seen++ == round) {
            spread.push_back(i);
            break;
          }
      }
    picked = spread;
  } else {
    std::stable_sort(picked.begin(), picked.end(),
                     [&](std::size_t a, std::size_t b) { return confidence(a) > confidence(b); });
    if (picked.size() > 24) picked.resize(24);
  }
  const std::string title = m.name + (correct ? ": correctly classified test images (#: test index)"
                                              : ": most confident mistakes (#: test index)");
  if (picked.empty()) {  // a perfect (or hopeless) model: say so instead of an empty grid
    viz::Figure none(720, 80);
    none.text(16, 30, title, {viz::text_size::title, viz::colors::black, viz::Anchor::start, true});
    none.text(16, 60,
              correct ? "No test image was classified correctly." : "No test image was misclassified.",
              {viz::text_size::label});
    return none;
  }
  std::vector<viz::Tile> tiles;
  for (std::size_t i : picked) {
    viz::Tile t;
    t.image = data.test.features().data() + i * 784;
    const auto truth = static_cast<std::size_t>(data.test.labels()[i]),
               guess = static_cast<std::size_t>(m.predicted[i]);
    const std::string index = "#" + std::to_string(i);
    if (correct) {
      t.caption = {index + " " + class_name(truth), percent(confidence(i), 1)};
      t.color = viz::colors::green;
    } else {
      t.caption = {index + " true: " + class_name(truth), std::string("pred: ") + class_name(guess),
                   "confidence " + percent(confidence(i), 1)};
      t.color = viz::colors::red;
    }
    t.tooltip = "test image " + index + ": " + class_name(truth) + ", predicted " + class_name(guess) + " (" +
                percent(confidence(i), 1) + "); predict " + m.name + "/best.safetensors --index " +
                std::to_string(i);
    tiles.push_back(t);
  }
  return viz::image_grid(tiles, 28, 6, title);
}

/// Test accuracy per model (mean +- std over seeds; the axis from zero) and validation loss curves.
inline viz::Figure comparison_figure(const std::vector<ModelResult>& results) {
  viz::Figure figure(1200, 460);
  std::vector<viz::Bar> bars;
  std::vector<viz::Series> curves;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& m = results[i];
    const viz::Color color = viz::colors::series[i % 6];
    const double mean = m.mean(&Run::test_accuracy), spread = m.stddev(&Run::test_accuracy);
    bars.push_back({m.name, 100 * mean, 100 * spread, color,
                    m.name + ": test accuracy " + with_spread(m, &Run::test_accuracy, true) + " (" +
                        std::to_string(m.runs.size()) + (m.runs.size() == 1 ? " seed)" : " seeds)")});
    curves.push_back({m.name, epoch_numbers(m.runs.front().history),
                      m.runs.front().history.values("val_loss"), color, false});
  }
  viz::plot_bars(figure, 0, 0, 460, 460, "Test accuracy", "accuracy (%)", bars, 2);
  viz::plot_lines(figure, 460, 0, 740, 460, "Validation loss per epoch", "epoch", "cross-entropy", curves);
  return figure;
}

/// Writes comparison.png and each model's curves.png, confusion.png, correct.png and wrong.png.
inline void save_figures(const std::vector<ModelResult>& results, const datasets::FashionMnist& data,
                         const fs::path& out) {
  comparison_figure(results).save_png((out / "comparison.png").string());
  for (const auto& m : results) {
    const fs::path dir = out / m.name;
    curves_figure(m).save_png((dir / "curves.png").string());
    confusion_figure(m, data).save_png((dir / "confusion.png").string());
    examples_figure(m, data, true).save_png((dir / "correct.png").string());
    examples_figure(m, data, false).save_png((dir / "wrong.png").string());
  }
}

}  // namespace study
