#pragma once
// The study's outputs: summary.json, summary.md, the self-contained report.html (figures inline as
// SVG) and the table on stdout.

#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "figures.hpp"
#include "findings.hpp"
#include "options.hpp"
#include "results.hpp"

namespace study {

namespace fs = std::filesystem;

/// summary.json, summary.md, report.html, and the table on stdout.
/// "mlp vs basic_cnn vs deeper_cnn vs resnet": the models of the run, for titles.
inline std::string model_list(const std::vector<ModelResult>& results) {
  std::string list;
  for (const auto& m : results) list += (list.empty() ? "" : " vs ") + m.name;
  return list;
}

inline void write_outputs(const std::vector<ModelResult>& results, const datasets::FashionMnist& data,
                          const Options& o, const fs::path& out) {
  const std::vector<std::string> found = findings(results, data.test);
  const std::vector<Claim> tested = claims(results);
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
    const Generalisation g = generalisation(m);
    entry["generalisation"] = {{"train_accuracy_at_best", g.train_best}, {"val_accuracy_at_best", g.val_best},
                               {"train_accuracy_at_end", g.train_end},   {"val_accuracy_at_end", g.val_end},
                               {"gap_points_at_best", g.gap_best()},     {"gap_points_at_end", g.gap_end()}};
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
  nlohmann::json summary{{"tinydl_version", version_string},
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
  nlohmann::json claims_json = nlohmann::json::array();
  for (const Claim& c : tested)
    claims_json.push_back({{"claim", c.claim}, {"verdict", c.verdict}, {"reason", c.reason}});
  summary["claims"] = claims_json;
  const std::string json_text = summary.dump(2) + "\n";
  io::write_file_atomically((out / "summary.json").string(), json_text.data(), json_text.size());

  // The comparison table, shared by summary.md, the report and stdout.
  const std::vector<std::string> header{"model",     "params",    "epochs run",    "best epoch",
                                        "s / epoch", "test loss", "test accuracy", "macro F1"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : results) {
    const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
    rows.push_back({m.name, grouped(m.params), std::to_string(m.runs.front().epochs_run),
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
      "; tinydl " + version_string + ", " + kernels::isa_name() + " kernels, " +
      std::to_string(num_threads()) + " threads, " + initializer_name(o.init) + " initialisation.";
  std::ostringstream md;
  const std::string quick_banner =
      "QUICK RUN: a slice of the data (" + std::to_string(data.train.size()) +
      " training images) and at most " + std::to_string(o.epochs) +
      " epochs, a first look only. This is not the real comparison: run without --quick for it.";
  md << "# Fashion-MNIST: " << results.size() << " models compared\n\n"
     << (o.quick ? "**" + quick_banner + "**\n\n" : "") << setup << "\n\n| ";
  for (const auto& h : header) md << h << " | ";
  md << "\n|";
  for (std::size_t i = 0; i < header.size(); ++i) md << " --- |";
  md << "\n";
  for (const auto& row : rows) {
    md << "| ";
    for (const auto& cell : row) md << cell << " | ";
    md << "\n";
  }
  md << "\n## The reference study's claims, tested\n\n";
  for (const Claim& c : tested) md << "- \"" << c.claim << "\" **" << c.verdict << "**: " << c.reason << "\n";
  md << "\n## Findings\n\n";
  for (const auto& f : found) md << "- " << f << "\n";
  const std::string md_text = md.str();
  io::write_file_atomically((out / "summary.md").string(), md_text.data(), md_text.size());

  // report.html: one file, every figure inline.
  viz::HtmlReport report("Fashion-MNIST: " + model_list(results));
  if (o.quick) report.banner(quick_banner);
  report.paragraph(setup);
  report.heading("Results on the test set");
  report.table(header, rows);
  report.figure(
      comparison_figure(results),
      "Test accuracy per model (the axis starts at zero; with --repeats, the error bars are +- one "
      "standard deviation over the seeds) and validation loss per epoch. Hover a bar or a point for its "
      "exact value.");
  report.heading("The reference study's claims, tested");
  std::vector<std::vector<std::string>> claim_rows;
  for (const Claim& c : tested) claim_rows.push_back({c.claim, c.verdict, c.reason});
  report.table({"claim", "verdict", "from the numbers"}, claim_rows);
  report.heading("Generalisation and cost");
  std::vector<std::vector<std::string>> cost_rows;
  for (const auto& m : results) {
    const Generalisation g = generalisation(m);
    const double accuracy = 100 * m.mean(&Run::test_accuracy), seconds = m.mean(&Run::train_seconds);
    cost_rows.push_back({m.name, percent(g.train_best) + " / " + percent(g.val_best), fixed(g.gap_best(), 2),
                         percent(g.train_end) + " / " + percent(g.val_end), fixed(g.gap_end(), 2),
                         fixed(accuracy / (static_cast<double>(m.params) / 1e5), 2), fixed(seconds, 1),
                         fixed(accuracy / std::max(seconds, 1e-9), 3)});
  }
  report.table({"model", "train / val accuracy, kept epoch", "gap (points)",
                "train / val accuracy, last epoch", "gap (points)", "test accuracy per 100k parameters",
                "training seconds", "test accuracy per training second"},
               cost_rows);
  report.paragraph(
      "The gap is training minus validation accuracy (a larger gap: more overfitting). Training accuracy is "
      "the "
      "running mean over each epoch's batches with Dropout active, as Keras reports it, so for a model with "
      "Dropout it understates how well the model fits its training data. Training seconds include the "
      "validation pass of every epoch.");
  report.heading("Seeds");
  report.paragraph(
      repeated
          ? "Each model was trained with " + std::to_string(o.repeats) + " seeds (" + std::to_string(o.seed) +
                " to " + std::to_string(o.seed + o.repeats - 1) +
                "); the table shows mean +- standard deviation, and a difference is called clear only when "
                "it "
                "exceeds twice the standard error of the difference of the means (the findings below)."
          : "Each model was trained with one seed (" + std::to_string(o.seed) +
                "), so the seed-to-seed spread was not measured: a difference under " +
                fixed(one_seed_noise_points, 1) +
                " points of accuracy is within typical noise. --repeats 3 trains each model with 3 seeds "
                "(3x this run's training time) and reports mean +- std and, for each difference, whether it "
                "exceeds the spread.");
  report.heading("Findings");
  report.bullets(found);
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
    report.figure(curves_figure(m), m.name +
                                        ": training vs validation loss and accuracy; the dashed line marks "
                                        "the epoch whose weights were kept (EarlyStopping restores them)");
    report.figure(confusion_figure(m, data), m.name +
                                                 ": confusion matrix on the test set; hover a cell for its "
                                                 "count and share");
    report.figure(examples_figure(m, data, true), m.name + ": correctly classified test images");
    report.figure(examples_figure(m, data, false),
                  m.name +
                      ": misclassified test images, most confident first. The number under each is its "
                      "test index: predict " +
                      m.name + "/best.safetensors --index N classifies it again.");
  }
  report.write((out / "report.html").string());

  // stdout
  if (o.quick) std::printf("\n%s\n", quick_banner.c_str());
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
  std::printf("\nThe reference study's claims:\n");
  for (const Claim& c : tested)
    std::printf("- \"%s\" %s: %s\n", c.claim.c_str(), c.verdict.c_str(), c.reason.c_str());
  std::printf("\nFindings:\n");
  for (const auto& f : found) std::printf("- %s\n", f.c_str());
  std::printf("\nReport: %s\n", (out / "report.html").string().c_str());
}

}  // namespace study
