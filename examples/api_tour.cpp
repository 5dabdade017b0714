// A tour of tinydl's model API on a small synthetic image task, each step as docs/api.md shows it
// (a test checks that every code block of docs/api.md appears verbatim in an example program).
//
//   api_tour [output directory]      (default: the system's temporary directory)
#include <tinydl/tinydl.hpp>

#include <cstdio>
#include <filesystem>
#include <string>

using namespace tinydl;

namespace {

/// n images (1, 12, 12) of noise with a bright 4x4 square in one of four corners; the corner is
/// the label. Pixels are uint8, like Fashion-MNIST.
Dataset<std::uint8_t> corner_squares(std::size_t n, std::uint64_t seed) {
  Tensor<std::uint8_t> images(Shape{n, 1, 12, 12});
  Tensor<std::int32_t> labels(Shape{n});
  const CounterRng rng(seed);
  for (std::size_t i = 0; i < n; ++i) {
    labels[i] = static_cast<std::int32_t>(rng.below(4, 1, i));
    for (std::size_t p = 0; p < 144; ++p)
      images[i * 144 + p] = static_cast<std::uint8_t>(rng.below(60, 2, i * 144 + p));
    const std::size_t top = labels[i] < 2 ? 1 : 7, left = labels[i] % 2 ? 7 : 1;
    for (std::size_t r = top; r < top + 4; ++r)
      for (std::size_t c = left; c < left + 4; ++c) images[i * 144 + r * 12 + c] = 250;
  }
  return Dataset<std::uint8_t>(std::move(images), std::move(labels), /*scale=*/1.0 / 255);
}

// [custom layer]
/// y = s * x with one learned scale s: a layer of your own, forward and backward side by side.
class LearnedScale : public Layer<float> {
 public:
  LearnedScale() = default;
  explicit LearnedScale(const nlohmann::json& /*config*/) {}  // what register_layer<L> calls
  std::string type() const override { return "LearnedScale"; }
  Shape output_shape(const Shape& input) const override { return input; }
  nlohmann::json config() const override { return nlohmann::json::object(); }
  std::vector<Param<float>> params() override { return {{"scale", scale_.view(), grad_.view()}}; }

 protected:
  void forward_impl(TensorView<const float> x, TensorView<float> y, Mode) override {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = scale_[0] * x[i];  // y = s x
  }
  void backward_impl(TensorView<const float> x, TensorView<const float>, TensorView<const float> dy,
                     TensorView<float> dx) override {
    for (std::size_t i = 0; i < x.size(); ++i) {
      grad_[0] += dy[i] * x[i];                  // dL/ds += dy x
      if (dx.data()) dx[i] = scale_[0] * dy[i];  // dL/dx = s dy
    }
  }

 private:
  Tensor<float> scale_{Shape{1}, 1.0f}, grad_{Shape{1}, 0.0f};
};
// [custom layer]

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir =
      argc > 1 ? argv[1] : std::filesystem::temp_directory_path() / "tinydl-api-tour";
  std::error_code made;
  std::filesystem::create_directories(dir, made);
  if (made) {
    std::fprintf(stderr, "api_tour: cannot create %s (%s)\n", dir.string().c_str(), made.message().c_str());
    return 1;
  }
  const std::string best_path = (dir / "best.safetensors").string();
  const std::string log_path = (dir / "log.csv").string();
  const std::string state_path = (dir / "state.safetensors").string();
  const Dataset<std::uint8_t> train = corner_squares(512, 1), test = corner_squares(128, 2);

  try {
    // [build]
    Sequential<float> model;
    model.add(Conv2D<float>(8, 3, 1, Padding::same()))
        .add(BatchNorm<float>())
        .add(ReLU<float>())
        .add(MaxPool2D<float>(2))
        .add(Dropout<float>(0.25))
        .add(Flatten<float>())
        .add(Dense<float>(32))
        .add(ReLU<float>())
        .add(Dense<float>(4));
    model.build(Shape{1, 12, 12}, /*seed=*/42);
    model.compile(Adam<float>(1e-3));
    std::printf("%s", model.summary().c_str());
    // [build]

    // [residual]
    Residual<float> block;  // y = body(x) + x
    block.add(Conv2D<float>(8, 3, 1, Padding::same(), /*use_bias=*/false))
        .add(BatchNorm<float>())
        .add(ReLU<float>())
        .add(Conv2D<float>(8, 3, 1, Padding::same(), /*use_bias=*/false))
        .add(BatchNorm<float>());
    Residual<float> down;  // more channels at half the size: the 1x1 projection is added for it
    down.add(Conv2D<float>(16, 3, /*stride=*/2, Padding(1)))
        .add(ReLU<float>())
        .add(Conv2D<float>(16, 3, 1, Padding(1)));
    Sequential<float> resnet;
    resnet.add(Conv2D<float>(8, 3, 1, Padding::same()))
        .add(ReLU<float>())
        .add(std::move(block))
        .add(ReLU<float>())
        .add(std::move(down))
        .add(ReLU<float>())
        .add(GlobalAveragePooling2D<float>())
        .add(Dense<float>(4));
    resnet.build(Shape{1, 12, 12}, /*seed=*/42);  // saved as "2.0.weight", "4.shortcut.0.weight", ...
    resnet.compile(Adam<float>(3e-3));
    FitOptions short_run;
    short_run.epochs = 2;
    short_run.verbose = 0;
    resnet.fit(train, short_run);
    std::printf("resnet: %zu parameters, test accuracy %.1f%%\n", resnet.parameter_count(true),
                100 * resnet.evaluate(test).accuracy);
    // [residual]

    // [fit]
    EarlyStopping<float> early_stopping("val_loss", /*patience=*/3, /*min_delta=*/0, MonitorMode::automatic,
                                        /*restore_best_weights=*/true);
    ModelCheckpoint<float> checkpoint(best_path, "val_loss", /*save_best_only=*/true);
    CSVLogger<float> csv(log_path);
    FitOptions options;
    options.epochs = 8;
    options.batch_size = 32;
    options.validation_split = 0.2;  // the last 20% of `train`, before shuffling
    options.seed = 7;
    const History history = model.fit(train, options, {&early_stopping, &checkpoint, &csv});
    std::printf("%zu epochs, best val_loss %.4f%s%s\n", history.size(), early_stopping.best(),
                history.stop_reason.empty() ? "" : "; ", history.stop_reason.c_str());
    // [fit]

    // [evaluate]
    const Evaluation result = model.evaluate(test);
    const Tensor<float> probabilities = model.predict(test);  // (128, 4), rows sum to 1
    std::printf("test loss %.4f, accuracy %.1f%%; P(class 0) of the first image %.3f\n", result.loss,
                100 * result.accuracy, probabilities[0]);
    // [evaluate]

    // [predictor]
    Predictor<float> deployed(
        model);  // a snapshot: weights copied and packed once, as ONNX Runtime's session
    Tensor<float> one_image(Shape{1, 1, 12, 12});
    const std::size_t first = 0;
    std::int32_t label = 0;
    test.gather(&first, 1, one_image.data(), &label);  // test image 0, scaled as fit scales it
    const TensorView<const float> scores = deployed.logits(one_image.view());  // (1, 4), the model's bits
    std::printf("deployed: first test image scores %.3f %.3f %.3f %.3f\n", scores[0], scores[1], scores[2],
                scores[3]);
    // [predictor]

    // [save]
    model.save(best_path);                                      // safetensors, PyTorch names and layouts
    Sequential<float> restored = load_model<float>(best_path);  // architecture and weights from the file
    Sequential<float> same = zoo::by_name<float>("mlp");        // or: build in code, then load weights
    (void)same;
    model.load_weights(best_path);
    std::printf("restored model's test accuracy %.1f%%\n", 100 * restored.evaluate(test).accuracy);
    // [save]

    // [onnx]
    save_onnx(restored, (dir / "model.onnx").string());  // for ONNX Runtime: session.run({input: x}).logits
    // [onnx]

    // [resume]
    model.save_training_state(state_path);  // weights, optimizer moments, epoch, dropout steps
    Sequential<float> resumed;
    resumed.add(Conv2D<float>(8, 3, 1, Padding::same()))
        .add(BatchNorm<float>())
        .add(ReLU<float>())
        .add(MaxPool2D<float>(2))
        .add(Dropout<float>(0.25))
        .add(Flatten<float>())
        .add(Dense<float>(32))
        .add(ReLU<float>())
        .add(Dense<float>(4));
    resumed.build(Shape{1, 12, 12});
    resumed.compile(Adam<float>(1e-3));
    resumed.load_training_state(state_path);
    FitOptions more = options;
    more.initial_epoch = resumed.epochs_completed();
    more.epochs = resumed.epochs_completed() + 2;
    more.verbose = 2;  // one line per epoch
    resumed.fit(train, more);
    // [resume]

    // [custom loop]
    Tensor<float> x(Shape{16, 1, 12, 12});
    Tensor<std::int32_t> y(Shape{16});
    std::size_t first_sixteen[16];
    for (std::size_t i = 0; i < 16; ++i) first_sixteen[i] = i;
    train.gather(first_sixteen, 16, x.data(), y.data());  // uint8 -> float, scaled by 1/255
    for (int step = 0; step < 3; ++step) {
      const BatchResult r = model.train_on_batch(x.view(), y.view());
      std::printf("step %d: loss %.4f, accuracy %.2f\n", step, r.loss, r.accuracy);
    }
    model.optimizer().set_learning_rate(1e-4);

    Sequential<float> regressor;
    regressor.add(Dense<float>(16)).add(ReLU<float>()).add(Dense<float>(1));
    regressor.build(Shape{2}, /*seed=*/1);
    regressor.compile(Adam<float>(1e-2));
    Tensor<float> inputs(Shape{4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), sums(Shape{4, 1}, {0, 1, 1, 2});
    const MeanSquaredError<float> mse;
    float mse_loss = 0;
    for (int step = 0; step < 200; ++step)
      mse_loss = regressor.train_on_batch(
          inputs.view(), [&](auto outputs, auto doutputs) { return mse(outputs, sums.view(), doutputs); });
    std::printf("regression: mse %.5f, 1 + 1 -> %.3f\n", mse_loss,
                regressor.forward(inputs.view(), Mode::eval)[3]);

    Sequential<float> classifier;  // binary: x0 or x1, positives weighted twice
    classifier.add(Dense<float>(8)).add(ReLU<float>()).add(Dense<float>(1));
    classifier.build(Shape{2}, /*seed=*/2);
    classifier.compile(Adam<float>(1e-2));
    Tensor<float> either(Shape{4, 1}, {0, 1, 1, 1});
    const BinaryCrossEntropyWithLogits<float> bce({/*pos_weight=*/2.0});
    for (int step = 0; step < 200; ++step)
      classifier.train_on_batch(
          inputs.view(), [&](auto logits, auto dlogits) { return bce(logits, either.view(), dlogits); });
    const auto binary_logits = classifier.forward(inputs.view(), Mode::eval);
    std::printf("binary: logit for (0, 0) %.2f, for (1, 0) %.2f\n", binary_logits[0], binary_logits[2]);
    // [custom loop]

    // [profile]
    model.set_profiling(true);
    for (int step = 0; step < 3; ++step) model.train_on_batch(x.view(), y.view());
    std::printf("%s", model.profile().table().c_str());  // ms per step, per layer and part
    model.set_profiling(false);

    // Or watch the steps yourself: an observer hears each part and layer call begin and end.
    struct CountLayerCalls : StepObserver {
      std::size_t forward = 0, backward = 0;
      void begin(StepPart part, std::size_t) override {
        forward += part == StepPart::forward;
        backward += part == StepPart::backward;
      }
      void end(StepPart, std::size_t) override {}
    } counter;
    model.set_observer(&counter);
    model.train_on_batch(x.view(), y.view());
    model.set_observer(nullptr);
    std::printf("one step: %zu forward and %zu backward layer calls\n", counter.forward, counter.backward);
    // [profile]

    // [lambda]
    LambdaCallback<float> print_lr;
    print_lr.epoch_end = [](Sequential<float>& m, const EpochLogs& logs) {
      std::printf("epoch %zu used lr %g; next %g\n", logs.epoch + 1, logs.learning_rate,
                  m.optimizer().learning_rate());
    };
    ReduceLROnPlateau<float> reduce("loss", /*factor=*/0.5, /*patience=*/1);
    TerminateOnNaN<float> stop_on_nan;
    FitOptions two;
    two.epochs = 2;
    two.verbose = 0;
    model.fit(train, two, {&print_lr, &reduce, &stop_on_nan});
    // [lambda]

    // [schedule]
    // One cycle over the whole run, gradients clipped to a global norm of 1, shifted images, a class
    // weighted
    LearningRateScheduler<float> one_cycle(schedules::one_cycle(/*max_lr=*/1e-2));
    model.optimizer().set_clip_norm(1.0);
    FitOptions three;
    three.epochs = 3;
    three.verbose = 0;
    three.augmentation.max_shift = 1;  // random shifts of up to 1 pixel, drawn per (seed, epoch, image)
    three.class_weight = {1.0, 1.0, 2.0, 1.0};  // class 2 counts twice in the training loss
    Dataset<std::uint8_t> weighted = train;
    Tensor<float> sample_weight(Shape{train.size()}, 1.0f);
    sample_weight[0] = 3.0f;  // the first example counts three times
    weighted.set_sample_weights(std::move(sample_weight));
    model.fit(weighted, three, {&one_cycle});
    std::printf("lr now %g; the last step's gradient norm before clipping %.3f\n",
                model.optimizer().learning_rate(), model.optimizer().last_grad_norm());
    model.optimizer().set_clip_norm(0);  // off again
    // [schedule]

    // [targets]
    // A regression: each image's mean brightness, one float target per example
    const std::size_t pixels = train.item_shape().numel();
    Tensor<float> brightness(Shape{train.size(), 1});
    for (std::size_t i = 0; i < train.size(); ++i) {
      double sum = 0;
      for (std::size_t p = 0; p < pixels; ++p) sum += train.features()[i * pixels + p];
      brightness[i] = static_cast<float>(sum / pixels / 255);
    }
    Tensor<std::uint8_t> images = train.features();
    const Dataset<std::uint8_t> regression_data(std::move(images), std::move(brightness), 1.0 / 255);
    Sequential<float> brightness_model;
    brightness_model.add(Flatten<float>()).add(Dense<float>(16)).add(ReLU<float>()).add(Dense<float>(1));
    brightness_model.build(regression_data.item_shape(), /*seed=*/3);
    brightness_model.compile(Adam<float>(1e-3), MeanSquaredError<float>());
    FitOptions two_epochs;
    two_epochs.epochs = 2;
    two_epochs.verbose = 0;
    const History fitted = brightness_model.fit(regression_data, two_epochs);
    std::printf("brightness: mse %.5f; predicted %.3f for a true %.3f\n", fitted.epochs.back().loss,
                brightness_model.predict(regression_data)[0], regression_data.targets()[0]);
    // [targets]

    // [register]
    register_layer<LearnedScale>("LearnedScale");  // once, before load_model meets one in a file
    Sequential<float> custom;
    custom.add(Flatten<float>())
        .add(Dense<float>(16))
        .add(LearnedScale())
        .add(ReLU<float>())
        .add(Dense<float>(4));
    custom.build(Shape{1, 12, 12}, /*seed=*/3);
    custom.compile(Adam<float>(1e-2));
    custom.fit(train, two);
    custom.save((dir / "custom.safetensors").string());
    Sequential<float> custom_again = load_model<float>((dir / "custom.safetensors").string());
    std::printf("learned scale %g, loaded back %g\n", custom.named_parameters()[2].second.value[0],
                custom_again.named_parameters()[2].second.value[0]);
    // [register]

    // [inspect]
    const std::vector<double> val_losses = history.values("val_loss");  // one value per epoch
    const Tensor<std::int32_t>& labels = test.labels();                 // (128), int32
    for (const auto& [name, param] : model.named_parameters())          // "0.weight", "1.running_mean", ...
      std::printf("%s %s\n", name.c_str(), param.value.shape().to_string().c_str());
    const std::vector<Tensor<float>> snapshot = model.get_weights();  // copies; set_weights puts them back
    model.set_weights(snapshot);
    const TensorView<const float> logits = model.forward(x.view(), Mode::eval);
    const TensorView<const float> same_logits = model.outputs();  // the last forward's output, (16, 4)
    const std::vector<std::int32_t> predicted = metrics::predicted_classes(same_logits);
    const std::vector<std::int32_t> guesses = metrics::predicted_classes(probabilities.view());
    const metrics::ConfusionMatrix confusion(guesses, labels.view(), 4);
    std::printf("%zu val losses; %zu logits; test accuracy %.3f, macro F1 %.3f; first prediction %d\n",
                val_losses.size(), logits.size(), confusion.accuracy(), confusion.macro_f1(), predicted[0]);
    // From an open file, reading the tensors named prefix + key:
    model.load_weights(io::SafetensorsFile::load(best_path), /*prefix=*/"");
    // [inspect]

    // [figures]
    std::vector<double> epochs;
    for (std::size_t e = 1; e <= val_losses.size(); ++e) epochs.push_back(static_cast<double>(e));
    viz::Figure curves(800, 400);  // drawn once: save_png() for a file, svg() for a page
    viz::plot_lines(curves, 0, 0, 800, 400, "loss", "epoch", "cross-entropy",
                    {{"validation", epochs, val_losses}});
    curves.save_png((dir / "curves.png").string());
    viz::HtmlReport page("Corner squares");  // one self-contained file: figures inline, no scripts
    page.heading("Training");
    page.figure(curves, "validation loss per epoch (hover a point for its value)");
    page.figure(viz::confusion_heatmap(confusion, {"top left", "top right", "bottom left", "bottom right"},
                                       "confusion matrix"),
                "test set");
    page.write((dir / "report.html").string());
    // [figures]
    return result.accuracy > 0.8 ? 0 : 1;
  } catch (const std::exception& e) {  // every tinydl::Error (shapes, files, options), and the rest
    std::fprintf(stderr, "api_tour: %s\n", e.what());
    return 1;
  }
}
