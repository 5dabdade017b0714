#pragma once
// The study's outputs: summary.json, summary.md, report.html and the table on stdout.

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "findings.hpp"
#include "options.hpp"
#include "results.hpp"

namespace study {

namespace fs = std::filesystem;

/// summary.json, summary.md, report.html, and the table on stdout.
inline void write_outputs(const std::vector<ModelResult>& results, const datasets::FashionMnist& data,
                          const Options& o, const fs::path& out) {
  const std::vector<std::string> found = findings(results, data.test);
  const bool repeated = o.repeats > 1;

  // summary.json
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : results) {
    const Run& r = m.runs.front();
    const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
    nlohmann::json per_class = nlohmann::json::array();
    for (std::size_t c = 0; c < 10; ++c)
      per_class.push_back({{"class", class_name(c)},
                           {"precision", cm.precision(c)},
                           {"recall", cm.recall(c)},
                           {"f1", cm.f1(c)},
                           {"support", cm.support(c)}});
    nlohmann::json entry{{"name", m.name},
                         {"params", m.params},
                         {"epochs_run", r.epochs_run},
                         {"best_epoch", r.best_epoch},
                         {"seconds_per_epoch", r.seconds_per_epoch},
                         {"train_seconds", r.train_seconds},
                         {"test_loss", r.test_loss},
                         {"test_accuracy", r.test_accuracy},
                         {"macro_f1", cm.macro_f1()},
                         {"per_class", per_class}};
    if (repeated) {
      nlohmann::json runs = nlohmann::json::array();
      for (const Run& run : m.runs)
        runs.push_back({{"seed", run.seed},
                        {"epochs_run", run.epochs_run},
                        {"best_epoch", run.best_epoch},
                        {"seconds_per_epoch", run.seconds_per_epoch},
                        {"test_loss", run.test_loss},
                        {"test_accuracy", run.test_accuracy}});
      entry["runs"] = runs;
      entry["test_accuracy_mean"] = m.mean(&Run::test_accuracy);
      entry["test_accuracy_std"] = m.stddev(&Run::test_accuracy);
      entry["test_loss_mean"] = m.mean(&Run::test_loss);
      entry["test_loss_std"] = m.stddev(&Run::test_loss);
      entry["seconds_per_epoch_mean"] = m.mean(&Run::seconds_per_epoch);
    }
    models.push_back(entry);
  }
  const nlohmann::json summary{{"tinydl_version", version_string},
                               {"kernels", kernels::isa_name()},
                               {"threads", num_threads()},
                               {"quick", o.quick},
                               {"epochs_max", o.epochs},
                               {"batch_size", o.batch_size},
                               {"repeats", o.repeats},
                               {"first_seed", o.seed},
                               {"init", initializer_name(o.init)},
                               {"train_images", data.train.size()},
                               {"validation_images", data.validation.size()},
                               {"test_images", data.test.size()},
                               {"models", models},
                               {"findings", found}};
  const std::string json_text = summary.dump(2) + "\n";
  io::write_file_atomically((out / "summary.json").string(), json_text.data(), json_text.size());

  // The comparison table, shared by summary.md, the report and stdout.
  const std::vector<std::string> header{"model",     "params",    "epochs run",    "best epoch",
                                        "s / epoch", "test loss", "test accuracy", "macro F1"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : results) {
    const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
    rows.push_back({m.name, std::to_string(m.params), std::to_string(m.runs.front().epochs_run),
                    std::to_string(m.runs.front().best_epoch), fixed(m.mean(&Run::seconds_per_epoch), 1),
                    with_spread(m, &Run::test_loss, false), with_spread(m, &Run::test_accuracy, true),
                    fixed(cm.macro_f1(), 4)});
  }
  const std::string setup =
      std::to_string(data.train.size()) + " training / " + std::to_string(data.validation.size()) +
      " validation / " + std::to_string(data.test.size()) + " test images; Adam 1e-3, batch " +
      std::to_string(o.batch_size) + ", up to " + std::to_string(o.epochs) +
      " epochs, EarlyStopping on val_loss (patience 3, best weights restored); " +
      (repeated ? std::to_string(o.repeats) + " seeds from " + std::to_string(o.seed) + " (mean +- std)"
                : "seed " + std::to_string(o.seed)) +
      (o.quick ? "; QUICK MODE (a slice of the data, 2 epochs): not the real comparison" : "") + "; tinydl " +
      version_string + ", " + kernels::isa_name() + " kernels, " + std::to_string(num_threads()) +
      " threads, " + initializer_name(o.init) + " initialisation.";
  std::ostringstream md;
  md << "# Fashion-MNIST: three models compared\n\n" << setup << "\n\n| ";
  for (const auto& h : header) md << h << " | ";
  md << "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) md << " --- |";
  md << "\n";
  for (const auto& row : rows) {
    md << "| ";
    for (const auto& cell : row) md << cell << " | ";
    md << "\n";
  }
  md << "\n## Findings\n\n";
  for (const auto& f : found) md << "- " << f << "\n";
  const std::string md_text = md.str();
  io::write_file_atomically((out / "summary.md").string(), md_text.data(), md_text.size());

  // report.html
  viz::HtmlReport report("Fashion-MNIST: MLP vs basic CNN vs deeper CNN");
  report.paragraph(setup);
  report.heading("Results on the test set");
  report.table(header, rows);
  report.heading("Findings");
  report.bullets(found);
  report.figure("comparison.png", "Test accuracy per model and validation loss per epoch");
  const ModelResult* best = &results.front();
  for (const auto& m : results)
    if (m.mean(&Run::test_accuracy) > best->mean(&Run::test_accuracy)) best = &m;
  report.heading("Per-class metrics of the best model (" + best->name + ")");
  const metrics::ConfusionMatrix best_cm(best->predicted, data.test.labels().view(), 10);
  std::vector<std::vector<std::string>> class_rows;
  for (std::size_t c = 0; c < 10; ++c)
    class_rows.push_back({class_name(c), fixed(best_cm.precision(c), 3), fixed(best_cm.recall(c), 3),
                          fixed(best_cm.f1(c), 3), std::to_string(best_cm.support(c))});
  report.table({"class", "precision", "recall", "F1", "support"}, class_rows);
  for (const auto& m : results) {
    report.heading(m.name);
    report.figure(m.name + "/curves.png", m.name + ": training vs validation loss and accuracy");
    report.figure(m.name + "/confusion.png", m.name + ": confusion matrix on the test set");
    report.figure(m.name + "/correct.png", m.name + ": correctly classified test images");
    report.figure(m.name + "/wrong.png", m.name + ": misclassified test images, most confident first");
  }
  report.write((out / "report.html").string());

  // stdout
  std::printf("\n%s\n\n", setup.c_str());
  std::vector<std::size_t> widths(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) {
    widths[i] = header[i].size();
    for (const auto& row : rows) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    for (std::size_t i = 0; i < cells.size(); ++i)
      std::printf(i == 0 ? "%-*s" : "  %*s", static_cast<int>(widths[i]), cells[i].c_str());
    std::printf("\n");
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
  std::printf("\nFindings:\n");
  for (const auto& f : found) std::printf("- %s\n", f.c_str());
  std::printf("\nReport: %s\n", (out / "report.html").string().c_str());
}

}  // namespace study
