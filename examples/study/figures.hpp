#pragma once
// The study's pictures: training curves, right and wrong predictions, and the comparison chart.

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "results.hpp"

namespace study {

namespace fs = std::filesystem;

/// curves.png: training vs validation loss and accuracy of the first run.
inline void draw_curves(const ModelResult& m, const fs::path& file) {
  const History& h = m.runs.front().history;
  std::vector<double> epochs;
  for (const auto& e : h.epochs) epochs.push_back(static_cast<double>(e.epoch + 1));
  viz::Canvas canvas(1500, 560);
  viz::plot_lines(canvas, 0, 0, 750, 560, m.name + ": loss", "epoch", "cross-entropy",
                  {{"training", epochs, h.values("loss"), viz::colors::series[0], false},
                   {"validation", epochs, h.values("val_loss"), viz::colors::series[1], true}});
  viz::plot_lines(canvas, 750, 0, 750, 560, m.name + ": accuracy", "epoch", "accuracy",
                  {{"training", epochs, h.values("accuracy"), viz::colors::series[0], false},
                   {"validation", epochs, h.values("val_accuracy"), viz::colors::series[1], true}});
  canvas.save_png(file.string());
}

/// correct.png / wrong.png: up to 24 test images classified right (or wrong), most confident first.
inline void draw_examples(const ModelResult& m, const datasets::FashionMnist& data, bool correct,
                          const fs::path& file) {
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
  if (picked.empty()) return;
  std::vector<viz::Tile> tiles;
  for (std::size_t i : picked) {
    viz::Tile t;
    t.image = data.test.features().data() + i * 784;
    const auto truth = static_cast<std::size_t>(data.test.labels()[i]),
               guess = static_cast<std::size_t>(m.predicted[i]);
    if (correct) {
      t.caption = {class_name(truth), percent(confidence(i), 1)};
      t.color = viz::colors::green;
    } else {
      t.caption = {std::string("true: ") + class_name(truth), std::string("pred: ") + class_name(guess),
                   "confidence " + percent(confidence(i), 1)};
      t.color = viz::colors::red;
    }
    tiles.push_back(t);
  }
  const std::string title = m.name + (correct ? ": correctly classified test images"
                                              : ": most confident mistakes (true -> predicted)");
  viz::image_grid(tiles, 28, 6, title).save_png(file.string());
}

/// comparison.png: test accuracy per model (mean +- std over seeds) and validation loss curves.
inline void draw_comparison(const std::vector<ModelResult>& results, const fs::path& file) {
  viz::Canvas canvas(1500, 600);
  std::vector<viz::Bar> bars;
  std::vector<viz::Series> curves;
  double lowest = 1;
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& m = results[i];
    const viz::Color color = viz::colors::series[i % 6];
    bars.push_back({m.name, 100 * m.mean(&Run::test_accuracy), 100 * m.stddev(&Run::test_accuracy), color});
    lowest = std::min(lowest, m.mean(&Run::test_accuracy));
    std::vector<double> epochs;
    for (const auto& e : m.runs.front().history.epochs) epochs.push_back(static_cast<double>(e.epoch + 1));
    curves.push_back({m.name, epochs, m.runs.front().history.values("val_loss"), color, false});
  }
  const double floor = std::max(0.0, std::floor(100 * lowest / 5) * 5 - 5);
  viz::plot_bars(canvas, 0, 0, 650, 600, "Test accuracy", "accuracy (%)", bars, floor, 2);
  viz::plot_lines(canvas, 650, 0, 850, 600, "Validation loss per epoch", "epoch", "cross-entropy", curves);
  canvas.save_png(file.string());
}

/// A model's four pictures in its folder: curves.png, confusion.png, correct.png, wrong.png.
inline void draw_model_figures(const ModelResult& m, const datasets::FashionMnist& data,
                               const fs::path& dir) {
  draw_curves(m, dir / "curves.png");
  const std::vector<std::string> names(datasets::fashion_mnist_classes.begin(),
                                       datasets::fashion_mnist_classes.end());
  const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
  viz::confusion_heatmap(cm, names, m.name + ": confusion matrix (test set)")
      .save_png((dir / "confusion.png").string());
  draw_examples(m, data, true, dir / "correct.png");
  draw_examples(m, data, false, dir / "wrong.png");
}

}  // namespace study
