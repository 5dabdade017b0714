// Tests of include/tinydl/callbacks: EarlyStopping, ModelCheckpoint (atomic, best only, a failed
// save), CSVLogger, TerminateOnNaN, ReduceLROnPlateau, ProgressBar and LambdaCallback.
#include "test_support.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/resource.h>

using namespace tinydl;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {

/// A tiny built and compiled model: Flatten -> Dense 3 on (1, 2, 2) inputs.
Sequential<float> tiny_model() {
  Sequential<float> model;
  model.add(Flatten<float>()).add(Dense<float>(3));
  model.build(Shape{1, 2, 2});
  model.compile(SGD<float>(0.1));
  return model;
}

/// Sets every parameter of the model to `value`, so the weights say which epoch they are from.
void mark_weights(Sequential<float>& model, float value) {
  for (const auto& p : model.parameters()) std::fill(p.value.begin(), p.value.end(), value);
}

float first_weight(Sequential<float>& model) {
  return model.parameters().front().value[0];
}

EpochLogs epoch_with(std::size_t epoch, double val_loss) {
  EpochLogs logs;
  logs.epoch = epoch;
  logs.loss = val_loss;
  logs.has_validation = true;
  logs.val_loss = val_loss;
  logs.val_accuracy = 1 - val_loss;
  return logs;
}

/// Plays the callback through epochs with these validation losses, marking the weights with the
/// epoch number before each epoch's end; stops when the model asks to.
std::size_t play(Callback<float>& callback, Sequential<float>& model, const std::vector<double>& val_losses) {
  callback.on_train_begin(model, TrainInfo{0, val_losses.size(), 1, 1, 1, 1});
  std::size_t epoch = 0;
  for (; epoch < val_losses.size() && !model.stop_requested(); ++epoch) {
    mark_weights(model, static_cast<float>(epoch));
    callback.on_epoch_end(model, epoch_with(epoch, val_losses[epoch]));
  }
  History history;
  callback.on_train_end(model, history);
  return epoch;
}

Dataset<float> tiny_data(std::size_t n, float fill = 0.5f) {
  Tensor<float> x(Shape{n, 1, 2, 2}, fill);
  Tensor<std::int32_t> y(Shape{n});
  for (std::size_t i = 0; i < n; ++i) {
    y[i] = static_cast<std::int32_t>(i % 3);
    x[i * 4 + static_cast<std::size_t>(y[i])] = 1.0f;
  }
  return Dataset<float>(std::move(x), std::move(y));
}

}  // namespace

TEST_CASE("EarlyStopping stops after patience epochs without improvement and restores the best weights",
          "[callbacks][early_stopping]") {
  auto model = tiny_model();
  EarlyStopping<float> stop("val_loss", 3, 0.0, MonitorMode::automatic, true);
  // Best at epoch 1 (0.8); epochs 2, 3, 4 do not improve on it, so training stops after epoch 4.
  const std::size_t ran = play(stop, model, {1.0, 0.8, 0.9, 0.85, 0.95, 0.7, 0.6});
  CHECK(ran == 5);
  CHECK(stop.best_epoch() == 1);
  CHECK(stop.stopped_epoch() == 4);
  CHECK(model.stop_requested());
  CHECK(first_weight(model) == 1.0f);  // the weights of epoch 1

  // min_delta: improvements smaller than it do not count.
  auto model2 = tiny_model();
  EarlyStopping<float> strict("val_loss", 2, 0.05);
  CHECK(play(strict, model2, {1.0, 0.99, 0.98, 0.5}) == 3);
  // mode max for an accuracy, and without restore the last weights stay.
  auto model3 = tiny_model();
  EarlyStopping<float> accuracy("val_accuracy", 1);
  CHECK(play(accuracy, model3, {0.5, 0.4, 0.45}) == 3);  // accuracy 0.5, 0.6, 0.55: stops after epoch 2
  CHECK(first_weight(model3) == 2.0f);
  CHECK_THROWS_WITH(EarlyStopping<float>("val_los"), Contains("unknown metric 'val_los'"));
}

TEST_CASE("EarlyStopping ends a real fit early and History says why", "[callbacks][early_stopping]") {
  auto model = tiny_model();
  model.compile(SGD<float>(0.0));  // nothing learns: val_loss never improves after epoch 1
  EarlyStopping<float> stop("val_loss", 2);
  FitOptions options;
  options.epochs = 20;
  options.batch_size = 4;
  options.validation_split = 0.25;
  options.verbose = 0;
  const History history = model.fit(tiny_data(16), options, {&stop});
  CHECK(history.size() == 3);
  CHECK_THAT(history.stop_reason, Contains("EarlyStopping: val_loss did not improve for 2 epochs"));
  LambdaCallback<float> lambda;
  std::size_t ends = 0;
  lambda.epoch_end = [&](Sequential<float>&, const EpochLogs&) { ++ends; };
  EarlyStopping<float> needs_validation("val_loss", 2);
  options.validation_split = 0;
  CHECK_THROWS_WITH(model.fit(tiny_data(16), options, {&lambda, &needs_validation}),
                    Contains("monitor 'val_loss' needs validation data"));
  CHECK(ends == 1);
}

TEST_CASE("Monitoring an accuracy on a regression is a clear error, not a run that never improves",
          "[callbacks][early_stopping][losses]") {
  Sequential<float> model;
  model.add(Flatten<float>()).add(Dense<float>(1));
  model.build(Shape{1, 2, 2}, 1);
  model.compile(Adam<float>(1e-2), MeanSquaredError<float>());
  Tensor<float> x(Shape{16, 1, 2, 2}, 0.5f), y(Shape{16, 1});
  for (std::size_t i = 0; i < 16; ++i) y[i] = static_cast<float>(i % 3);
  const Dataset<float> data(std::move(x), std::move(y));
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.validation_split = 0.25;
  options.verbose = 0;
  EarlyStopping<float> on_accuracy("val_accuracy", 1);
  CHECK_THROWS_WITH(
      model.fit(data, options, {&on_accuracy}),
      "monitor 'val_accuracy': the model reports no accuracy (a regression); monitor 'val_loss' "
      "instead");
  EarlyStopping<float> on_loss("val_loss", 1);
  CHECK_NOTHROW(model.fit(data, options, {&on_loss}));
}

TEST_CASE("ModelCheckpoint keeps only the best weights", "[callbacks][checkpoint]") {
  const fs::path dir = test::temporary_directory("callbacks-best");
  const std::string path = (dir / "best.safetensors").string();
  auto model = tiny_model();
  ModelCheckpoint<float> checkpoint(path);
  play(checkpoint, model, {1.0, 0.7, 0.9, 0.6, 0.8});
  CHECK(checkpoint.saved_epoch() == 3);
  auto loaded = load_model<float>(path);
  CHECK(first_weight(loaded) == 3.0f);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);  // no temporaries

  ModelCheckpoint<float> every((dir / "epoch-{epoch}.safetensors").string(), "val_loss", false);
  auto model2 = tiny_model();
  play(every, model2, {1.0, 2.0});
  CHECK(fs::exists(dir / "epoch-1.safetensors"));
  CHECK(fs::exists(dir / "epoch-2.safetensors"));
}

TEST_CASE("A save that fails part-way (disk full) leaves the previous checkpoint intact",
          "[callbacks][checkpoint]") {
  const fs::path dir = test::temporary_directory("callbacks-failure");
  const std::string path = (dir / "best.safetensors").string();
  auto model = tiny_model();
  ModelCheckpoint<float> checkpoint(path);
  checkpoint.on_train_begin(model, TrainInfo{});
  mark_weights(model, 1.0f);
  checkpoint.on_epoch_end(model, epoch_with(0, 1.0));
  const auto saved = io::read_file(path);

  // Simulate a full disk: the process may not write files larger than 64 bytes.
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit original{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &original) == 0);
  rlimit tiny = original;
  tiny.rlim_cur = 64;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &tiny) == 0);
  mark_weights(model, 2.0f);
  bool failed = false;
  try {
    checkpoint.on_epoch_end(model, epoch_with(1, 0.5));  // an improvement: tries to save
  } catch (const IoError& e) {
    failed = true;
    CHECK_THAT(std::string(e.what()), Contains("best.safetensors: writing"));
  }
  REQUIRE(setrlimit(RLIMIT_FSIZE, &original) == 0);
  CHECK(failed);
  CHECK(io::read_file(path) == saved);
  CHECK(first_weight(*std::make_unique<Sequential<float>>(load_model<float>(path))) == 1.0f);
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
}

TEST_CASE("TerminateOnNaN stops on the first NaN loss with a clear message", "[callbacks][nan]") {
  auto model = tiny_model();
  const auto data = tiny_data(12);
  // A Dataset refuses NaN features, so the weights go NaN instead, after the first batch: the
  // second batch's loss is NaN.
  LambdaCallback<float> poison;
  poison.batch_end = [](Sequential<float>& m, const BatchLogs& logs) {
    if (logs.epoch == 0 && logs.batch == 0) m.parameters()[0].value[0] = std::nanf("");
  };
  TerminateOnNaN<float> nan;
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.shuffle = false;
  options.verbose = 0;
  const History history = model.fit(data, options, {&poison, &nan});
  CHECK(history.stop_reason ==
        "TerminateOnNaN: loss is nan at epoch 1, batch 2 (learning rate too high, or NaN/inf in the data?)");
  CHECK(history.size() == 1);
}

TEST_CASE("A NaN val_loss does not hide TerminateOnNaN's message behind 'needs validation data'",
          "[callbacks][nan]") {
  auto model = tiny_model();
  const auto data = tiny_data(16);
  LambdaCallback<float> poison;  // the second batch's loss is NaN
  poison.batch_end = [](Sequential<float>& m, const BatchLogs& logs) {
    if (logs.epoch == 0 && logs.batch == 0) m.parameters()[0].value[0] = std::nanf("");
  };
  TerminateOnNaN<float> nan;
  EarlyStopping<float> early("val_loss", 2);
  const fs::path dir = test::temporary_directory("callbacks-nan-val");
  ModelCheckpoint<float> checkpoint((dir / "best.safetensors").string(), "val_loss", true);
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.shuffle = false;
  options.validation_split = 0.25;
  options.verbose = 0;
  History history;
  REQUIRE_NOTHROW(history = model.fit(data, options, {&poison, &nan, &early, &checkpoint}));
  CHECK_THAT(history.stop_reason, Contains("TerminateOnNaN: loss is nan"));
}

TEST_CASE("CSVLogger writes a header and one row per epoch as it goes", "[callbacks][csv]") {
  const fs::path path = test::temporary_directory("callbacks-csv") / "log.csv";
  auto model = tiny_model();
  CSVLogger<float> log(path.string());
  LambdaCallback<float> check_rows;
  std::size_t rows_seen = 0;
  check_rows.epoch_end = [&](Sequential<float>&, const EpochLogs&) {
    std::ifstream in(path);
    std::string line;
    std::size_t lines = 0;
    while (std::getline(in, line)) ++lines;
    rows_seen = lines - 1;  // already on disk when the epoch ends
  };
  FitOptions options;
  options.epochs = 3;
  options.batch_size = 4;
  options.verbose = 0;
  model.fit(tiny_data(8), options, {&log, &check_rows});
  CHECK(rows_seen == 3);
  std::ifstream in(path);
  std::string header, first;
  std::getline(in, header);
  std::getline(in, first);
  CHECK(header == "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds");
  CHECK(first.rfind("0,", 0) == 0);
  CHECK_THAT(first, Contains(",,"));  // no validation: empty val columns
}

TEST_CASE("ReduceLROnPlateau lowers the learning rate after patience epochs, not below min_lr",
          "[callbacks][lr]") {
  auto model = tiny_model();  // SGD 0.1
  ReduceLROnPlateau<float> reduce("val_loss", 0.5, 2, 0.0, 0, 0.03);
  play(reduce, model, {1.0, 1.0, 1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95});
  // Plateaus end at epochs 2 (0.1 -> 0.05), 5 (-> 0.03, the floor) and 7 (stays 0.03).
  CHECK(model.optimizer().learning_rate() == Approx(0.03));
  auto model2 = tiny_model();
  ReduceLROnPlateau<float> once("val_loss", 0.5, 2);
  play(once, model2, {1.0, 1.0, 1.0});
  CHECK(model2.optimizer().learning_rate() == Approx(0.05));
  CHECK_THROWS_AS(ReduceLROnPlateau<float>("val_loss", 1.5), ConfigError);
}

TEST_CASE("ProgressBar draws a bar on a terminal and one line per epoch elsewhere", "[callbacks][progress]") {
  auto model = tiny_model();
  std::ostringstream lines, bar;
  ProgressBar<float> plain(lines, ProgressBar<float>::Style::lines),
      drawn(bar, ProgressBar<float>::Style::bar);
  FitOptions options;
  options.epochs = 2;
  options.batch_size = 4;
  options.validation_split = 0.5;
  options.verbose = 0;
  model.fit(tiny_data(16), options, {&plain, &drawn});
  const std::string text = lines.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 2);
  CHECK_THAT(text, Contains("Epoch 1/2 - 2 steps - "));
  CHECK_THAT(text, Contains(" - val_loss: "));
  CHECK_THAT(text, Contains(" - lr: 0.1"));
  CHECK(text.find('\r') == std::string::npos);
  CHECK_THAT(bar.str(), Contains("Epoch 2/2\n"));
  CHECK_THAT(bar.str(), Contains("\r2/2 [==============================]"));
  CHECK_THAT(bar.str(), Contains("ms/step - loss: "));
}

TEST_CASE("LearningRateScheduler sets every step's rate from its schedule, resumes where it stopped",
          "[callbacks][schedule]") {
  // Records the rate each training step ran with (on_batch_end comes after the step).
  struct Recorder : Callback<float> {
    std::vector<double> rates;
    void on_batch_end(Sequential<float>& model, const BatchLogs&) override {
      rates.push_back(model.optimizer().learning_rate());
    }
  };
  const auto data = tiny_data(12);  // batches of 4: 3 steps per epoch
  FitOptions options;
  options.epochs = 4;
  options.batch_size = 4;
  options.verbose = 0;
  auto model = tiny_model();  // SGD 0.1
  LearningRateScheduler<float> scheduler(schedules::step_decay(2, 0.5));
  Recorder recorder;
  model.fit(data, options, {&recorder, &scheduler});  // (the recorder first: the rate before the next is set)
  CHECK(recorder.rates ==
        std::vector<double>{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05});
  CHECK(scheduler.base_lr() == 0.1);

  // Resumed at epoch 2 with the base rate given, the schedule continues: 0.05 at once.
  auto resumed = tiny_model();
  resumed.optimizer().set_learning_rate(0.0125);  // as a saved state's last rate would be
  LearningRateScheduler<float> again(schedules::step_decay(2, 0.5), 0.1);
  Recorder later;
  options.initial_epoch = 2;
  resumed.fit(data, options, {&later, &again});
  CHECK(later.rates == std::vector<double>(recorder.rates.begin() + 6, recorder.rates.end()));

  CHECK_THROWS_AS(LearningRateScheduler<float>(nullptr), ConfigError);
  CHECK_THROWS_AS(schedules::step_decay(0, 0.5), ConfigError);
  CHECK_THROWS_AS(schedules::one_cycle(0.1, 1.0), ConfigError);
}

TEST_CASE("Cosine decay warms up linearly, then falls to min_lr along a half cosine",
          "[callbacks][schedule]") {
  const auto schedule = schedules::cosine_decay(4, 0.001);
  ScheduleStep s;
  s.total_steps = 104;
  s.base_lr = 0.1;
  const auto at = [&](std::size_t step) {
    s.step = step;
    return schedule(s);
  };
  CHECK(at(0) == Approx(0.025));
  CHECK(at(3) == Approx(0.1));
  CHECK(at(4) == Approx(0.1));
  CHECK(at(54) == Approx(0.001 + 0.099 / 2));    // half way: the mean of the two
  CHECK(at(103) == Approx(0.001).margin(1e-4));  // the last step is nearly at min_lr
  for (std::size_t i = 5; i < 104; ++i) CHECK(at(i) < at(i - 1));
}

TEST_CASE("one_cycle and step_decay give PyTorch's OneCycleLR and StepLR rates",
          "[callbacks][schedule][golden]") {
  // tests/reference/schedules.json, from tests/reference/make_schedules.py (PyTorch 1.13)
  std::ifstream in(std::string(TINYDL_TEST_DATA_DIR) + "/reference/schedules.json");
  REQUIRE(in);
  const nlohmann::json reference = nlohmann::json::parse(in);
  std::size_t checked = 0;
  for (const auto& c : reference["cases"]) {
    const std::vector<double> expected = c["rates"].get<std::vector<double>>();
    ScheduleStep s;
    LearningRateSchedule schedule;
    if (c["schedule"] == "one_cycle") {
      schedule = schedules::one_cycle(c["max_lr"], c["pct_start"], c["div_factor"], c["final_div_factor"]);
      s.total_steps = c["total_steps"];
    } else {
      schedule = schedules::step_decay(c["every"], c["gamma"]);
      s.base_lr = c["base_lr"];
    }
    for (std::size_t i = 0; i < expected.size(); ++i) {
      s.step = s.epoch = i;  // (StepLR's steps are epochs)
      CAPTURE(c["schedule"].get<std::string>(), i);
      CHECK(schedule(s) == Approx(expected[i]).epsilon(1e-12));
      ++checked;
    }
  }
  CHECK(checked == 100 + 37 + 10);
}
