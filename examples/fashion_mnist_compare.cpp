// The study: an MLP, a basic CNN and a deeper CNN (BatchNorm, Dropout) trained the same way on
// Fashion-MNIST, compared on the unseen test set, with training curves, confusion matrices,
// pictures of right and wrong predictions, and findings computed from the numbers.
//
//   fashion_mnist_compare [--data DIR] [--out DIR] [--models mlp,basic_cnn,deeper_cnn] [--epochs N]
//                         [--batch-size N] [--seed S] [--repeats K] [--threads N] [--quick] [--help]
#include <tinydl/tinydl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace tinydl;
namespace fs = std::filesystem;

namespace {

const char* usage =
    "Usage: fashion_mnist_compare [options]\n"
    "Trains and compares three models on Fashion-MNIST and writes a report.\n\n"
    "  --data DIR         Fashion-MNIST directory (default: $TINYDL_DATA or /usr/share/datasets/fashion-mnist)\n"
    "  --out DIR          output directory (default: runs/<date-time>)\n"
    "  --models LIST      comma-separated subset of mlp,basic_cnn,deeper_cnn (default: all three)\n"
    "  --epochs N         maximum epochs; early stopping on val_loss, patience 3 (default: 30)\n"
    "  --batch-size N     mini-batch size (default: 64)\n"
    "  --seed S           seed of the first run (default: 1)\n"
    "  --repeats K        train each model with K seeds and report mean +- std (default: 1)\n"
    "  --threads N        threads (default: OMP_NUM_THREADS or all cores)\n"
    "  --init NAME        initialisation of Dense and Conv2D layers: torch_default (PyTorch's, as the\n"
    "                     reference study; default) or he_normal (tinydl's library default)\n"
    "  --quick            a first look: 6,000 training images, 2 epochs, under a minute\n"
    "  --profile          time every layer's forward and backward pass; print where each step's time\n"
    "                     goes and write profile.txt in the model's folder\n"
    "  --help             this text\n";

struct Options {
  std::string data_dir, out_dir;
  std::vector<std::string> models{"mlp", "basic_cnn", "deeper_cnn"};
  std::size_t epochs = 30, batch_size = 64, repeats = 1;
  std::uint64_t seed = 1;
  int threads = 0;
  bool quick = false, profile = false;
  // PyTorch's initialisation, so the models are the reference study's in every respect; measured
  // on the MLP it is worth about 0.3 points of test accuracy over He normal (docs/fashion_mnist.md).
  Initializer init = Initializer::torch_default;
};

std::size_t parse_count(const std::string& flag, const std::string& value) {
  try {
    std::size_t used = 0;
    const long long v = std::stoll(value, &used);
    if (used == value.size() && v > 0) return static_cast<std::size_t>(v);
  } catch (const std::exception&) {
  }
  throw ConfigError(flag + " needs a positive integer, got '" + value + "'");
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      check<ConfigError>(i + 1 < argc, flag, " needs a value (see --help)");
      return argv[++i];
    };
    if (flag == "--help" || flag == "-h") {
      std::cout << usage;
      std::exit(0);
    } else if (flag == "--data") {
      o.data_dir = value();
    } else if (flag == "--out") {
      o.out_dir = value();
    } else if (flag == "--models") {
      o.models.clear();
      std::stringstream list(value());
      for (std::string name; std::getline(list, name, ',');) {
        check<ConfigError>(name == "mlp" || name == "basic_cnn" || name == "deeper_cnn", "--models: unknown model '",
                           name, "' (mlp, basic_cnn, deeper_cnn)");
        o.models.push_back(name);
      }
      check<ConfigError>(!o.models.empty(), "--models: empty list");
    } else if (flag == "--epochs") {
      o.epochs = parse_count(flag, value());
    } else if (flag == "--batch-size") {
      o.batch_size = parse_count(flag, value());
    } else if (flag == "--seed") {
      o.seed = parse_count(flag, value());
    } else if (flag == "--repeats") {
      o.repeats = parse_count(flag, value());
    } else if (flag == "--threads") {
      const std::size_t threads = parse_count(flag, value());
      check<ConfigError>(threads <= static_cast<std::size_t>(max_threads), "--threads: at most ", max_threads,
                         ", got ", threads);
      o.threads = static_cast<int>(threads);
    } else if (flag == "--init") {
      o.init = initializer_from_name(value());
    } else if (flag == "--quick") {
      o.quick = true;
    } else if (flag == "--profile") {
      o.profile = true;
    } else {
      throw ConfigError("unknown option '" + flag + "' (see --help)");
    }
  }
  if (o.out_dir.empty()) {
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
    o.out_dir = std::string("runs/") + stamp;
  }
  return o;
}

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

std::string percent(double v, int decimals = 2) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f%%", decimals, 100 * v);
  return buffer;
}

std::string fixed(double v, int decimals) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
  return buffer;
}

std::string with_spread(const ModelResult& m, double Run::*field, bool as_percent) {
  const double mean = m.mean(field), spread = m.stddev(field);
  std::string text = as_percent ? percent(mean) : fixed(mean, 4);
  if (m.runs.size() > 1) text += " +- " + (as_percent ? percent(spread) : fixed(spread, 4));
  return text;
}

const char* class_name(std::size_t c) { return datasets::fashion_mnist_classes[c]; }

/// Trains one model with one seed and evaluates it on the test set.
Run train_once(const std::string& name, std::uint64_t seed, const datasets::FashionMnist& data, const Options& o,
               const fs::path& dir, bool first, ModelResult& result) {
  Sequential<float> model = zoo::by_name<float>(name, o.init);
  model.build(Shape{1, 28, 28}, seed);
  model.compile(Adam<float>(1e-3));
  result.params = model.parameter_count(true);
  if (first) std::printf("\n%s", model.summary().c_str());

  const std::string suffix = o.repeats > 1 ? "-seed" + std::to_string(seed) : "";
  EarlyStopping<float> early_stopping("val_loss", 3, 0, MonitorMode::automatic, /*restore_best_weights=*/true);
  ModelCheckpoint<float> checkpoint((dir / ("best" + suffix + ".safetensors")).string(), "val_loss", true);
  CSVLogger<float> log((dir / ("history" + suffix + ".csv")).string());
  FitOptions options;
  options.epochs = o.epochs;
  options.batch_size = o.batch_size;
  options.seed = seed;
  std::printf("\n== %s, seed %llu: %zu training / %zu validation images, up to %zu epochs\n", name.c_str(),
              static_cast<unsigned long long>(seed), data.train.size(), data.validation.size(), o.epochs);
  std::fflush(stdout);

  Run run;
  run.seed = seed;
  model.set_profiling(o.profile);
  run.history = model.fit(data.train, data.validation, options, {&early_stopping, &checkpoint, &log});
  if (o.profile) {
    const std::string table = model.profile().table();
    std::printf("\nProfile of %s's training steps (batch %zu):\n%s", name.c_str(), o.batch_size, table.c_str());
    io::write_file_atomically((dir / ("profile" + suffix + ".txt")).string(), table.data(), table.size());
  }
  run.epochs_run = run.history.size();
  run.best_epoch = static_cast<std::size_t>(early_stopping.best_epoch() + 1);
  for (const auto& e : run.history.epochs) run.train_seconds += e.seconds;
  run.seconds_per_epoch = run.train_seconds / static_cast<double>(std::max<std::size_t>(1, run.epochs_run));

  // The checkpoint holds the best epoch's weights, which EarlyStopping has also restored.
  model.load_weights(checkpoint.last_saved());
  const Evaluation test = model.evaluate(data.test, o.batch_size);
  run.test_loss = test.loss;
  run.test_accuracy = test.accuracy;
  std::printf("%s, seed %llu: best epoch %zu of %zu, test loss %.4f, test accuracy %s (%.1f s per epoch)\n",
              name.c_str(), static_cast<unsigned long long>(seed), run.best_epoch, run.epochs_run, test.loss,
              percent(test.accuracy).c_str(), run.seconds_per_epoch);
  if (first) {
    result.probabilities = model.predict(data.test, o.batch_size);
    result.predicted = metrics::predicted_classes(TensorView<const float>(result.probabilities.view()));
  }
  return run;
}

/// curves.png: training vs validation loss and accuracy of the first run.
void draw_curves(const ModelResult& m, const fs::path& file) {
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
void draw_examples(const ModelResult& m, const datasets::FashionMnist& data, bool correct, const fs::path& file) {
  const std::size_t classes = 10;
  std::vector<std::size_t> picked;
  for (std::size_t i = 0; i < m.predicted.size(); ++i)
    if ((m.predicted[i] == data.test.labels()[i]) == correct) picked.push_back(i);
  auto confidence = [&](std::size_t i) { return m.probabilities[i * classes + static_cast<std::size_t>(m.predicted[i])]; };
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
    std::stable_sort(picked.begin(), picked.end(), [&](std::size_t a, std::size_t b) { return confidence(a) > confidence(b); });
    if (picked.size() > 24) picked.resize(24);
  }
  if (picked.empty()) return;
  std::vector<viz::Tile> tiles;
  for (std::size_t i : picked) {
    viz::Tile t;
    t.image = data.test.features().data() + i * 784;
    const auto truth = static_cast<std::size_t>(data.test.labels()[i]), guess = static_cast<std::size_t>(m.predicted[i]);
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
  const std::string title = m.name + (correct ? ": correctly classified test images" : ": most confident mistakes (true -> predicted)");
  viz::image_grid(tiles, 28, 6, title).save_png(file.string());
}

/// comparison.png: test accuracy per model (mean +- std over seeds) and validation loss curves.
void draw_comparison(const std::vector<ModelResult>& results, const fs::path& file) {
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

/// The findings, each computed from the numbers.
std::vector<std::string> findings(const std::vector<ModelResult>& results, const Dataset<std::uint8_t>& test) {
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
      text += std::abs(diff) > 2 * se ? "; larger than twice its standard error (" + fixed(100 * se, 2) + " points): a clear difference"
                                      : "; within twice its standard error (" + fixed(100 * se, 2) + " points): not a consistent difference";
      text += "; " + a.name + " was better with " + std::to_string(wins) + " of " + std::to_string(pairs) + " seeds";
    } else {
      text += std::abs(diff) < 0.005 ? "; with one seed, a gap under half a point is within typical seed-to-seed noise (use --repeats to measure it)"
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
    ranking += (i ? " > " : "") + ranked[i]->name + " (" + percent(ranked[i]->mean(&Run::test_accuracy)) + ")";
  out.push_back(ranking + ".");
  if (mlp && basic) out.push_back(compare(*basic, *mlp));
  if (mlp && deeper) out.push_back(compare(*deeper, *mlp));
  if (basic && deeper) out.push_back(compare(*deeper, *basic));
  for (const auto& m : results) {
    const Run& r = m.runs.front();
    const EpochLogs& best = r.history.epochs.at(r.best_epoch - 1);
    const double gap = best.accuracy - best.val_accuracy;
    out.push_back(m.name + ": best validation loss at epoch " + std::to_string(r.best_epoch) + " of " +
                  std::to_string(r.epochs_run) + " run; at that epoch training accuracy " + percent(best.accuracy) +
                  " vs validation " + percent(best.val_accuracy) + " (gap " + fixed(100 * gap, 2) + " points" +
                  (gap > 0.03 ? ", clear overfitting" : gap > 0.01 ? ", mild overfitting" : ", little overfitting") + ").");
  }
  const ModelResult* slowest = &results.front();
  const ModelResult* fastest = &results.front();
  for (const auto& m : results) {
    if (m.mean(&Run::seconds_per_epoch) > slowest->mean(&Run::seconds_per_epoch)) slowest = &m;
    if (m.mean(&Run::seconds_per_epoch) < fastest->mean(&Run::seconds_per_epoch)) fastest = &m;
  }
  if (slowest != fastest)
    out.push_back("Cost: " + slowest->name + " takes " + fixed(slowest->mean(&Run::seconds_per_epoch), 1) +
                  " s per epoch, " + fixed(slowest->mean(&Run::seconds_per_epoch) / fastest->mean(&Run::seconds_per_epoch), 1) +
                  "x the " + fixed(fastest->mean(&Run::seconds_per_epoch), 1) + " s of " + fastest->name + ".");
  // The classes the best model confuses most.
  const ModelResult& top = *ranked.front();
  const metrics::ConfusionMatrix cm(top.predicted, test.labels().view(), 10);
  std::size_t worst_t = 0, worst_p = 1, weakest = 0;
  for (std::size_t t = 0; t < 10; ++t) {
    if (cm.recall(t) < cm.recall(weakest)) weakest = t;
    for (std::size_t p = 0; p < 10; ++p)
      if (t != p && cm.count(t, p) > cm.count(worst_t, worst_p)) worst_t = t, worst_p = p;
  }
  out.push_back("Hardest class for " + top.name + ": " + class_name(weakest) + " (recall " + percent(cm.recall(weakest), 1) +
                "); its most frequent confusion is " + class_name(worst_t) + " taken for " + class_name(worst_p) + " (" +
                std::to_string(cm.count(worst_t, worst_p)) + " of " + std::to_string(cm.support(worst_t)) + " test images).");
  return out;
}

/// summary.json, summary.md, report.html, and the table on stdout.
void write_outputs(const std::vector<ModelResult>& results, const datasets::FashionMnist& data, const Options& o,
                   const fs::path& out) {
  const std::vector<std::string> found = findings(results, data.test);
  const bool repeated = o.repeats > 1;

  // summary.json
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : results) {
    const Run& r = m.runs.front();
    const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
    nlohmann::json per_class = nlohmann::json::array();
    for (std::size_t c = 0; c < 10; ++c)
      per_class.push_back({{"class", class_name(c)}, {"precision", cm.precision(c)}, {"recall", cm.recall(c)},
                           {"f1", cm.f1(c)}, {"support", cm.support(c)}});
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
        runs.push_back({{"seed", run.seed}, {"epochs_run", run.epochs_run}, {"best_epoch", run.best_epoch},
                        {"seconds_per_epoch", run.seconds_per_epoch}, {"test_loss", run.test_loss},
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
  const std::vector<std::string> header{"model", "params", "epochs run", "best epoch", "s / epoch", "test loss",
                                        "test accuracy", "macro F1"};
  std::vector<std::vector<std::string>> rows;
  for (const auto& m : results) {
    const metrics::ConfusionMatrix cm(m.predicted, data.test.labels().view(), 10);
    rows.push_back({m.name, std::to_string(m.params), std::to_string(m.runs.front().epochs_run),
                    std::to_string(m.runs.front().best_epoch), fixed(m.mean(&Run::seconds_per_epoch), 1),
                    with_spread(m, &Run::test_loss, false), with_spread(m, &Run::test_accuracy, true),
                    fixed(cm.macro_f1(), 4)});
  }
  const std::string setup = std::to_string(data.train.size()) + " training / " + std::to_string(data.validation.size()) +
                            " validation / " + std::to_string(data.test.size()) + " test images; Adam 1e-3, batch " +
                            std::to_string(o.batch_size) + ", up to " + std::to_string(o.epochs) +
                            " epochs, EarlyStopping on val_loss (patience 3, best weights restored); " +
                            (repeated ? std::to_string(o.repeats) + " seeds from " + std::to_string(o.seed) + " (mean +- std)"
                                      : "seed " + std::to_string(o.seed)) +
                            (o.quick ? "; QUICK MODE (a slice of the data, 2 epochs): not the real comparison" : "") +
                            "; tinydl " + version_string + ", " + kernels::isa_name() + " kernels, " +
                            std::to_string(num_threads()) + " threads, " + initializer_name(o.init) + " initialisation.";
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

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (o.threads > 0) set_num_threads(o.threads);
    std::printf("tinydl %s (%s kernels, %d thread%s)\n", version_string, kernels::isa_name(), num_threads(),
                num_threads() == 1 ? "" : "s");
    const std::string dir = datasets::fashion_mnist_dir(o.data_dir);
    if (!datasets::fashion_mnist_available(dir)) {
      std::fprintf(stderr,
                   "fashion_mnist_compare: Fashion-MNIST not found in %s.\nInstall it with `apt-get install "
                   "dataset-fashion-mnist` (Debian), or pass --data DIR / set TINYDL_DATA.\n",
                   dir.c_str());
      return 2;
    }
    datasets::FashionMnist data = datasets::fashion_mnist(dir);
    Options run_options = o;
    if (o.quick) {  // a first look: a slice of every split and 2 epochs
      data.train = data.train.slice(0, 6000);
      data.validation = data.validation.slice(0, 1000);
      data.test = data.test.slice(0, 2000);
      run_options.epochs = std::min<std::size_t>(o.epochs, 2);
    }
    const fs::path out = o.out_dir;
    std::error_code made;
    fs::create_directories(out, made);
    check<IoError>(!made, "--out ", out.string(), ": cannot create the folder (", made.message(), ")");
    std::printf("data: %zu training, %zu validation, %zu test images from %s; writing to %s\n", data.train.size(),
                data.validation.size(), data.test.size(), dir.c_str(), out.string().c_str());

    std::vector<ModelResult> results;
    for (const std::string& name : o.models) {
      ModelResult result;
      result.name = name;
      const fs::path model_dir = out / name;
      fs::create_directories(model_dir);
      for (std::size_t r = 0; r < o.repeats; ++r)
        result.runs.push_back(train_once(name, o.seed + r, data, run_options, model_dir, r == 0, result));
      draw_curves(result, model_dir / "curves.png");
      std::vector<std::string> names(datasets::fashion_mnist_classes.begin(), datasets::fashion_mnist_classes.end());
      const metrics::ConfusionMatrix cm(result.predicted, data.test.labels().view(), 10);
      viz::confusion_heatmap(cm, names, name + ": confusion matrix (test set)").save_png((model_dir / "confusion.png").string());
      draw_examples(result, data, true, model_dir / "correct.png");
      draw_examples(result, data, false, model_dir / "wrong.png");
      results.push_back(std::move(result));
    }
    draw_comparison(results, out / "comparison.png");
    write_outputs(results, data, run_options, out);
    return 0;
  } catch (const std::exception& e) {  // tinydl::Error, a file system error, out of memory: one line
    std::fprintf(stderr, "fashion_mnist_compare: %s\n", e.what());
    return 1;
  }
}
