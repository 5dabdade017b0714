#pragma once
/// @file sequential.hpp
/// `Sequential<T>`: a stack of layers trained with softmax cross-entropy — Keras's `Sequential`
/// with `compile` / `fit` / `evaluate` / `predict`, PyTorch's parameter names and layouts.
///
///     Sequential<float> model;
///     model.add(Flatten<float>()).add(Dense<float>(128)).add(ReLU<float>()).add(Dense<float>(10));
///     model.build(Shape{1, 28, 28});
///     model.compile(Adam<float>(1e-3));
///     History history = model.fit(train, {/*epochs*/ 5, /*batch_size*/ 64});
///
/// Memory is planned, not allocated on the go: `reserve(batch)` (called by fit, evaluate and
/// predict) sizes one activation buffer per layer output, two gradient buffers used in turn, and
/// each layer's scratch, for the largest batch seen. A training step then allocates nothing.
///
/// The model outputs logits; `predict` turns them into probabilities.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/callbacks/progress_bar.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/data/dataset.hpp"
#include "tinydl/io/safetensors.hpp"
#include "tinydl/kernels/softmax.hpp"
#include "tinydl/layers/dropout.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/losses/softmax_cross_entropy.hpp"
#include "tinydl/model/callback.hpp"
#include "tinydl/model/history.hpp"
#include "tinydl/model/profile.hpp"
#include "tinydl/optim/optimizer.hpp"

namespace tinydl {

/// Options of `Sequential::fit`, in the order of Keras's arguments.
struct FitOptions {
  std::size_t epochs = 1;            ///< train until this epoch count (with initial_epoch: resume)
  std::size_t batch_size = 32;
  double validation_split = 0;       ///< fraction held out from the END of the training data, before shuffling
  bool shuffle = true;               ///< reshuffle the training examples every epoch
  std::uint64_t seed = 0;            ///< shuffling order: epoch e's order depends only on (seed, e)
  int verbose = 1;                   ///< 0 silent, 1 progress bar (one line per epoch off a terminal), 2 one line per epoch
  std::size_t initial_epoch = 0;     ///< first epoch to run (to resume an interrupted run)
};

/// Mean loss and accuracy over a dataset.
struct Evaluation {
  double loss = 0, accuracy = 0;
  std::size_t samples = 0;
};

/// Mean loss and accuracy of one batch.
struct BatchResult {
  double loss = 0, accuracy = 0;
};

/// A stack of layers; see the file comment.
template <typename T>
class Sequential {
public:
  Sequential() = default;
  Sequential(Sequential&&) noexcept = default;
  Sequential& operator=(Sequential&&) noexcept = default;
  Sequential(const Sequential&) = delete;
  Sequential& operator=(const Sequential&) = delete;

  // ---- building ---------------------------------------------------------------------------------

  /// Appends a layer (by value: `model.add(Dense<float>(10))`). Returns the model, to chain.
  template <typename L, typename = std::enable_if_t<std::is_base_of_v<Layer<T>, L>>>
  Sequential& add(L layer) {
    return add(std::unique_ptr<Layer<T>>(new L(std::move(layer))));
  }

  /// Appends a layer made elsewhere (e.g. by `make_layer`). Unnamed layers are named after their
  /// type and position: "conv2d_3" is layer 3, whose parameters are saved as "3.weight".
  Sequential& add(std::unique_ptr<Layer<T>> layer) {
    check<ConfigError>(layer != nullptr, "Sequential::add: null layer");
    check<ConfigError>(!built(), "Sequential::add: the model is already built; add every layer before build()");
    if (layer->name().empty()) {
      std::string name = layer->type();
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      layer->set_name(name + "_" + std::to_string(layers_.size()));
    }
    layers_.push_back(std::move(layer));
    return *this;
  }

  /// Builds every layer for examples of shape `item_shape` (no batch axis, e.g. (1, 28, 28)):
  /// infers each layer's input, creates and initialises parameters from `seed`. Throws
  /// `ShapeError` naming the first layer that does not fit and both shapes.
  void build(const Shape& item_shape, std::uint64_t seed = 0) {
    check<ConfigError>(!layers_.empty(), "Sequential::build: the model has no layers");
    check<ConfigError>(!built(), "Sequential::build: the model is already built");
    const CounterRng rng(seed);
    Shape shape = prepend_batch(1, item_shape);
    shapes_ = {item_shape};
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      Layer<T>& layer = *layers_[i];
      try {
        // Layer i draws its parameters from streams init + 256 i + j.
        layer.build(shape, rng, static_cast<std::uint64_t>(RngStream::init) + (std::uint64_t{i} << 8));
        shape = layer.output_shape(shape);
      } catch (const ShapeError& e) {
        shapes_.clear();
        throw ShapeError(detail::concat("Sequential: layer ", i, " (", layer.name(), ") does not fit its input ",
                                        shape, ": ", e.what()));
      }
      shapes_.push_back(tinydl::item_shape(shape));
    }
    check<ShapeError>(shape.rank() == 2, "Sequential: the last layer must output (N, classes) logits, got ", shape);
    collect_parameters();
  }

  bool built() const { return !shapes_.empty(); }
  std::size_t size() const { return layers_.size(); }
  Layer<T>& layer(std::size_t i) { return *layers_.at(i); }
  const Layer<T>& layer(std::size_t i) const { return *layers_.at(i); }
  /// The shape of one input example.
  const Shape& input_shape() const { return require_built().shapes_.front(); }
  /// Number of outputs (classes).
  std::size_t classes() const { return require_built().shapes_.back()[0]; }

  /// Plans activations, gradients and layer scratch for batches of up to `max_batch` examples.
  /// Only grows; called by fit, evaluate and predict.
  void reserve(std::size_t max_batch) {
    require_built();
    check<ConfigError>(max_batch > 0, "Sequential: batch size must be at least 1");
    if (max_batch <= capacity_) return;
    activations_.clear();
    std::size_t largest = 0;
    for (const Shape& item : shapes_) {
      activations_.emplace_back(prepend_batch(max_batch, item));
      largest = std::max(largest, activations_.back().size());
    }
    gradients_[0] = AlignedBuffer<T>(largest);
    gradients_[1] = AlignedBuffer<T>(largest);
    labels_ = Tensor<std::int32_t>(Shape{max_batch});
    indices_.resize(max_batch);
    for (auto& layer : layers_) layer->reserve(max_batch);
    capacity_ = max_batch;
  }

  /// The batch size memory is planned for (0 before the first reserve).
  std::size_t capacity() const { return capacity_; }

  /// Every parameter and state tensor, in layer order, named as in `torch.nn.Sequential`'s
  /// state_dict ("0.weight", "1.running_mean", ...).
  const std::vector<std::pair<std::string, Param<T>>>& named_parameters() const { return require_built().named_; }
  /// The same parameters without names, as optimizers take them.
  const std::vector<Param<T>>& parameters() const { return require_built().params_; }

  /// Number of parameter values: trainable, or non-trainable state (running statistics; counters
  /// such as num_batches_tracked are not counted, as in Keras).
  std::size_t parameter_count(bool trainable) const {
    std::size_t n = 0;
    for (const auto& p : parameters())
      if (p.trainable() == trainable && !p.integer) n += p.value.size();
    return n;
  }

  /// A Keras-like table: layer name and type, output shape, parameter count, and the totals.
  std::string summary() const {
    require_built();
    std::ostringstream out;
    const int name_width = 30, shape_width = 24, count_width = 12;
    const std::string rule(name_width + shape_width + count_width, '=');
    out << "Model: Sequential, input " << batch_of_items(shapes_.front()) << "\n";
    out << std::left << std::setw(name_width) << "Layer (type)" << std::setw(shape_width) << "Output shape"
        << std::right << std::setw(count_width) << "Param #" << "\n"
        << rule << "\n";
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      std::size_t count = 0;
      for (auto& p : layers_[i]->params())
        if (!p.integer) count += p.value.size();
      out << std::left << std::setw(name_width) << (layers_[i]->name() + " (" + layers_[i]->type() + ")")
          << std::setw(shape_width) << detail::concat(batch_of_items(shapes_[i + 1])) << std::right << std::setw(count_width)
          << with_commas(count) << "\n";
    }
    const std::size_t trainable = parameter_count(true), fixed = parameter_count(false);
    out << rule << "\n"
        << "Total params: " << with_commas(trainable + fixed) << "\n"
        << "Trainable params: " << with_commas(trainable) << "\n"
        << "Non-trainable params: " << with_commas(fixed) << "\n";
    return out.str();
  }

  /// The architecture as saved in files: input shape and each layer's type, name and config.
  nlohmann::json architecture() const {
    nlohmann::json layers = nlohmann::json::array();
    for (const auto& layer : layers_)
      layers.push_back({{"type", layer->type()}, {"name", layer->name()}, {"config", layer->config()}});
    nlohmann::json input = nlohmann::json::array();
    for (std::size_t i = 0; i < input_shape().rank(); ++i) input.push_back(input_shape()[i]);
    return {{"input_shape", input}, {"layers", layers}};
  }

  // ---- compiling --------------------------------------------------------------------------------

  /// Sets the optimizer (by value: `model.compile(Adam<float>(1e-3))`). The loss is
  /// `SoftmaxCrossEntropy` on the model's logits.
  template <typename O, typename = std::enable_if_t<std::is_base_of_v<Optimizer<T>, O>>>
  void compile(O optimizer) {
    compile(std::unique_ptr<Optimizer<T>>(new O(std::move(optimizer))));
  }
  void compile(std::unique_ptr<Optimizer<T>> optimizer) {
    check<ConfigError>(optimizer != nullptr, "Sequential::compile: null optimizer");
    // The loss is softmax cross-entropy on the logits: a final Softmax layer (a Keras habit)
    // would apply softmax twice and the loss would barely move, with no error.
    check<ConfigError>(layers_.empty() || layers_.back()->type() != "Softmax",
                       "Sequential::compile: the model ends in a Softmax layer, but the loss already applies "
                       "softmax to the logits; remove the last Softmax (predict() returns probabilities)");
    optimizer_ = std::move(optimizer);
  }
  bool compiled() const { return optimizer_ != nullptr; }
  Optimizer<T>& optimizer() {
    check<ConfigError>(compiled(), "Sequential: compile() the model with an optimizer first");
    return *optimizer_;
  }

  // ---- running ----------------------------------------------------------------------------------

  /// Runs the batch `x` (N, ...) through every layer; returns a view of the logits (N, classes),
  /// valid until the next call.
  TensorView<const T> forward(TensorView<const T> x, Mode mode) {
    const std::size_t n = check_batch(x.shape());
    input_ = x;
    TensorView<const T> in = x;
    const bool timed = profiling_ && mode == Mode::train;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      TensorView<T> out = activation(i + 1, n);
      {
        detail::ProfileTimer timer(timed ? &profile_.layers[i].forward : nullptr);
        layers_[i]->forward(in, out, mode);
      }
      in = out;
    }
    return in;
  }

  /// The logits of the last forward pass (N, classes); valid until the next pass.
  TensorView<const T> outputs() const {
    check<Error>(input_.data() != nullptr, "Sequential::outputs: no forward pass yet");
    return activations_.back().slice(0, input_.shape()[0]);
  }

  /// Forward in training mode, loss, and backward: the parameter gradients are overwritten with
  /// those of the mean loss of this batch. Returns the loss and accuracy; takes no optimizer step.
  template <typename Label>
  BatchResult compute_gradients(TensorView<const T> x, TensorView<Label> labels) {
    {
      detail::ProfileTimer timer(timer_sink(&TrainingProfile::zero_grad));
      for (const auto& p : params_)
        if (p.trainable())
          parallel_ranges(p.grad.size(), [grad = p.grad.data()](std::size_t begin, std::size_t end) {
            std::fill(grad + begin, grad + end, T(0));
          });
    }
    const TensorView<const T> logits = forward(x, Mode::train);
    const std::size_t n = logits.shape()[0];
    TensorView<T> dy(gradients_[0].data(), logits.shape());
    double loss = 0, accuracy = 0;
    {
      detail::ProfileTimer timer(timer_sink(&TrainingProfile::loss));
      loss = loss_(logits, labels, dy);
      accuracy = accuracy_of(logits, labels);
    }
    // Backward down to the first layer with trainable parameters: no one needs the gradient of
    // its input (for an MLP, the Flatten before the first Dense), so it is not computed.
    for (std::size_t i = layers_.size(); i-- > first_trainable_;) {
      const TensorView<const T> in = i == 0 ? input_ : TensorView<const T>(activation(i, n));
      TensorView<T> dx = i == first_trainable_
                             ? TensorView<T>()
                             : TensorView<T>(gradients_[(layers_.size() - i) % 2].data(), in.shape());
      {
        detail::ProfileTimer timer(profiling_ ? &profile_.layers[i].backward : nullptr);
        layers_[i]->backward(in, activation(i + 1, n), dy, dx);
      }
      dy = dx;
    }
    profile_.steps += profiling_;
    return {loss, accuracy};
  }

  /// One training step on a batch: gradients, then one optimizer step.
  template <typename Label>
  BatchResult train_on_batch(TensorView<const T> x, TensorView<Label> labels) {
    Optimizer<T>& opt = optimizer();
    const BatchResult result = compute_gradients(x, labels);
    detail::ProfileTimer timer(timer_sink(&TrainingProfile::optimizer));
    opt.step(params_);
    return result;
  }

  /// Trains on `train`, holding out `options.validation_split` of it for validation.
  template <typename X>
  History fit(const Dataset<X>& train, const FitOptions& options = {}, const std::vector<Callback<T>*>& callbacks = {}) {
    check<ConfigError>(options.validation_split >= 0 && options.validation_split < 1,
                       "fit: validation_split must be in [0, 1), got ", options.validation_split);
    const std::size_t held_out = static_cast<std::size_t>(static_cast<double>(train.size()) * options.validation_split);
    return run_fit(train, train.size() - held_out, held_out ? &train : nullptr, train.size() - held_out, held_out,
                   options, callbacks);
  }

  /// Trains on `train` and validates on `validation` after every epoch.
  template <typename X>
  History fit(const Dataset<X>& train, const Dataset<X>& validation, const FitOptions& options = {},
              const std::vector<Callback<T>*>& callbacks = {}) {
    check<ConfigError>(options.validation_split == 0, "fit: give validation data or a validation_split, not both");
    check<ShapeError>(!validation.empty(), "fit: the validation dataset is empty");
    return run_fit(train, train.size(), &validation, 0, validation.size(), options, callbacks);
  }

  /// Mean loss and accuracy over `data`, in evaluation mode. `batch_size` 0 means the planned batch.
  template <typename X>
  Evaluation evaluate(const Dataset<X>& data, std::size_t batch_size = 0) {
    return evaluate_range(data, 0, data.size(), batch_size);
  }

  /// Class probabilities (N, classes) for every example of `data`, in batches.
  template <typename X>
  Tensor<T> predict(const Dataset<X>& data, std::size_t batch_size = 0) {
    check<ShapeError>(!data.empty(), "predict: the dataset is empty");
    check_item_shape(data.item_shape(), "predict");
    Tensor<T> probabilities(Shape{data.size(), classes()});
    batch_size = planned_batch(batch_size);
    for (std::size_t first = 0; first < data.size(); first += batch_size) {
      const std::size_t count = std::min(batch_size, data.size() - first);
      std::iota(indices_.begin(), indices_.begin() + count, first);
      data.gather(indices_.data(), count, activations_[0].data(), labels_.data());
      const auto logits = forward(activation(0, count), Mode::eval);
      kernels::softmax_rows(count, classes(), logits.data(), probabilities.data() + first * classes());
    }
    return probabilities;
  }

  /// Class probabilities (N, classes) for a batch of inputs already in the model's scalar type.
  Tensor<T> predict(TensorView<const T> x, std::size_t batch_size = 0) {
    const std::size_t n = x.rank() ? x.shape()[0] : 0;
    check<ShapeError>(n > 0, "predict: empty input ", x.shape());
    check_item_shape(tinydl::item_shape(x.shape()), "predict");
    Tensor<T> probabilities(Shape{n, classes()});
    batch_size = planned_batch(batch_size);
    for (std::size_t first = 0; first < n; first += batch_size) {
      const std::size_t count = std::min(batch_size, n - first);
      const auto logits = forward(x.slice(first, first + count), Mode::eval);
      kernels::softmax_rows(count, classes(), logits.data(), probabilities.data() + first * classes());
    }
    return probabilities;
  }

  // ---- files (model/serialization.hpp) -------------------------------------------------------------

  /// Saves weights and state as safetensors with `torch.nn.Sequential` keys ("0.weight") and
  /// PyTorch layouts, and the architecture in `__metadata__` (for `load_model`). Atomic.
  void save(const std::string& path) const;

  /// Loads weights saved by `save` (or by PyTorch for the same architecture) into this built
  /// model. Every tensor must be present with its shape and a fitting dtype, and no other tensor
  /// may be in the file; otherwise `IoError`, and the model is unchanged.
  void load_weights(const std::string& path);

  /// `load_weights` from an open file, reading the tensors named `prefix` + key.
  void load_weights(const io::SafetensorsFile& file, const std::string& prefix = "");

  /// Saves weights plus what resuming needs: optimizer state, epochs completed, dropout steps.
  void save_training_state(const std::string& path) const;

  /// Restores a `save_training_state` file into this built and compiled model (same architecture
  /// and optimizer type). Resume with `fit(..., {.initial_epoch = model.epochs_completed()})`.
  void load_training_state(const std::string& path);

  // ---- control and weights ------------------------------------------------------------------------

  /// Asks `fit` to stop after the current batch; `reason` ends up in `History::stop_reason`.
  void stop_training(std::string reason) {
    stop_requested_ = true;
    stop_reason_ = std::move(reason);
  }
  bool stop_requested() const { return stop_requested_; }

  /// Epochs completed by fit so far (the `initial_epoch` to resume from).
  std::size_t epochs_completed() const { return epochs_completed_; }
  void set_epochs_completed(std::size_t epochs) { epochs_completed_ = epochs; }

  /// A copy of every parameter and state tensor (for EarlyStopping's best weights).
  std::vector<Tensor<T>> get_weights() const {
    std::vector<Tensor<T>> weights;
    for (const auto& p : parameters()) {
      Tensor<T> copy(p.value.shape());
      std::copy(p.value.begin(), p.value.end(), copy.begin());
      weights.push_back(std::move(copy));
    }
    return weights;
  }

  /// Restores tensors from `get_weights`. Throws `ShapeError` (changing nothing) if they do not fit.
  void set_weights(const std::vector<Tensor<T>>& weights) {
    const auto& params = parameters();
    check<ShapeError>(weights.size() == params.size(), "set_weights: ", weights.size(), " tensors for ",
                      params.size(), " parameters");
    for (std::size_t i = 0; i < params.size(); ++i)
      check<ShapeError>(weights[i].shape() == params[i].value.shape(), "set_weights: tensor ", i, " is ",
                        weights[i].shape(), ", parameter '", named_[i].first, "' is ", params[i].value.shape());
    for (std::size_t i = 0; i < params.size(); ++i)
      std::copy(weights[i].begin(), weights[i].end(), params[i].value.begin());
  }

  /// The Dropout layers' step counters (they select the masks), for saving a training state.
  std::vector<std::uint64_t> dropout_steps() const {
    std::vector<std::uint64_t> steps;
    for (const auto& layer : layers_)
      if (auto* dropout = dynamic_cast<const Dropout<T>*>(layer.get())) steps.push_back(dropout->step());
    return steps;
  }
  void set_dropout_steps(const std::vector<std::uint64_t>& steps) {
    std::size_t k = 0;
    for (auto& layer : layers_)
      if (auto* dropout = dynamic_cast<Dropout<T>*>(layer.get())) {
        check<ConfigError>(k < steps.size(), "set_dropout_steps: too few steps for the model's Dropout layers");
        dropout->set_step(steps[k++]);
      }
    check<ConfigError>(k == steps.size(), "set_dropout_steps: ", steps.size(), " steps for ", k, " Dropout layers");
  }

  // ---- profiling ----------------------------------------------------------------------------------

  /// Turns per-layer timing of training steps on or off (off by default). Timing adds two clock
  /// reads per layer call; the times add up until `profile().reset()`.
  void set_profiling(bool on) {
    require_built();
    if (profile_.layers.size() != layers_.size()) {
      profile_.layers.clear();
      for (const auto& layer : layers_) profile_.layers.push_back({layer->name() + " (" + layer->type() + ")"});
    }
    profiling_ = on;
  }
  bool profiling() const { return profiling_; }
  /// Where the training steps' time went since profiling started (or the last reset).
  const TrainingProfile& profile() const { return profile_; }
  TrainingProfile& profile() { return profile_; }

private:
  double* timer_sink(double TrainingProfile::*part) { return profiling_ ? &(profile_.*part) : nullptr; }

  const Sequential& require_built() const {
    check<ConfigError>(built(), "Sequential: build(input_shape) the model first");
    return *this;
  }

  static std::string with_commas(std::size_t n) {
    std::string digits = std::to_string(n), out;
    for (std::size_t i = 0; i < digits.size(); ++i) {
      if (i && (digits.size() - i) % 3 == 0) out += ',';
      out += digits[i];
    }
    return out;
  }

  void collect_parameters() {
    named_.clear();
    params_.clear();
    first_trainable_ = layers_.size();
    for (std::size_t i = 0; i < layers_.size(); ++i)
      for (auto& p : layers_[i]->params()) {
        named_.emplace_back(std::to_string(i) + "." + p.name, p);
        params_.push_back(p);
        if (p.trainable()) first_trainable_ = std::min(first_trainable_, i);
      }
  }

  /// Activation i (0: the input, i: the output of layer i-1) for a batch of n, as a view.
  TensorView<T> activation(std::size_t i, std::size_t n) { return activations_[i].slice(0, n); }

  void check_item_shape(const Shape& item, const char* who) const {
    check<ShapeError>(item == input_shape(), who, ": the model takes examples of shape ", input_shape(), ", got ",
                      item);
  }

  /// Checks a batch shape and plans memory for it; returns the batch size.
  std::size_t check_batch(const Shape& batch) {
    require_built();
    check<ShapeError>(batch.rank() >= 2 && batch[0] > 0, "Sequential: expected a batch ",
                      batch_of_items(input_shape()), ", got ", batch);
    check_item_shape(tinydl::item_shape(batch), "Sequential");
    reserve(batch[0]);
    return batch[0];
  }

  std::size_t planned_batch(std::size_t batch_size) {
    if (batch_size == 0) batch_size = capacity_ ? capacity_ : 64;
    reserve(batch_size);
    return batch_size;
  }

  template <typename Label>
  static double accuracy_of(TensorView<const T> logits, TensorView<Label> labels) {
    const std::size_t n = logits.shape()[0], classes = logits.shape()[1];
    std::size_t correct = 0;
    for (std::size_t b = 0; b < n; ++b) {
      const T* row = logits.data() + b * classes;
      const std::size_t best = static_cast<std::size_t>(std::max_element(row, row + classes) - row);
      correct += best == static_cast<std::size_t>(labels[b]);
    }
    return static_cast<double>(correct) / static_cast<double>(n);
  }

  template <typename X>
  void check_labels(const Dataset<X>& data, std::size_t first, std::size_t count, const char* who) const {
    const auto& labels = data.labels();
    for (std::size_t i = first; i < first + count; ++i)
      check<Error>(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < classes(), who, ": example ", i,
                   " has label ", labels[i], " but the model has ", classes(), " outputs (labels 0 to ", classes() - 1,
                   ")");
  }

  template <typename X>
  Evaluation evaluate_range(const Dataset<X>& data, std::size_t first, std::size_t count, std::size_t batch_size) {
    check<ShapeError>(count > 0, "evaluate: the dataset is empty");
    check_item_shape(data.item_shape(), "evaluate");
    check_labels(data, first, count, "evaluate");
    batch_size = planned_batch(batch_size);
    double loss_sum = 0, correct = 0;
    for (std::size_t offset = 0; offset < count; offset += batch_size) {
      const std::size_t n = std::min(batch_size, count - offset);
      std::iota(indices_.begin(), indices_.begin() + n, first + offset);
      data.gather(indices_.data(), n, activations_[0].data(), labels_.data());
      const auto labels = labels_.slice(0, n);
      const auto logits = forward(activation(0, n), Mode::eval);
      loss_sum += static_cast<double>(loss_(logits, labels)) * n;
      correct += accuracy_of(logits, labels) * n;
    }
    return {loss_sum / count, correct / count, count};
  }

  /// Epoch e's order of the training examples [0, n): a Fisher-Yates shuffle whose swaps are
  /// drawn from (seed, stream shuffle + e << 32, position).
  static void shuffle_order(std::vector<std::size_t>& order, std::uint64_t seed, std::size_t epoch) {
    const CounterRng rng(seed);
    const std::uint64_t stream = static_cast<std::uint64_t>(RngStream::shuffle) | (std::uint64_t{epoch} << 32);
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i, stream, i)]);
  }

  template <typename X>
  History run_fit(const Dataset<X>& train, std::size_t train_count, const Dataset<X>* validation,
                  std::size_t validation_first, std::size_t validation_count, const FitOptions& options,
                  const std::vector<Callback<T>*>& user_callbacks) {
    require_built();
    optimizer();
    check<ConfigError>(options.batch_size > 0, "fit: batch_size must be at least 1");
    check<ConfigError>(options.initial_epoch <= options.epochs, "fit: initial_epoch ", options.initial_epoch,
                       " is after the last epoch ", options.epochs);
    check<ShapeError>(train_count > 0, "fit: the training dataset is empty",
                      train.size() ? " (validation_split leaves no training examples)" : "");
    check_item_shape(train.item_shape(), "fit");
    check_labels(train, 0, train_count, "fit");
    if (validation) {
      check_item_shape(validation->item_shape(), "fit (validation data)");
      check_labels(*validation, validation_first, validation_count, "fit (validation data)");
    }
    for (auto* callback : user_callbacks) check<ConfigError>(callback != nullptr, "fit: null callback");
    reserve(options.batch_size);

    std::vector<Callback<T>*> callbacks = user_callbacks;
    std::unique_ptr<ProgressBar<T>> progress;
    if (options.verbose > 0) {
      progress = std::make_unique<ProgressBar<T>>(std::cout, options.verbose == 1 ? ProgressBar<T>::Style::automatic
                                                                                  : ProgressBar<T>::Style::lines);
      callbacks.push_back(progress.get());
    }

    const std::size_t batches = (train_count + options.batch_size - 1) / options.batch_size;
    TrainInfo info{options.initial_epoch, options.epochs, batches, options.batch_size, train_count, validation_count};
    stop_requested_ = false;
    stop_reason_.clear();
    History history;
    for (auto* c : callbacks) c->on_train_begin(*this, info);

    std::vector<std::size_t> order(train_count);
    for (std::size_t epoch = options.initial_epoch; epoch < options.epochs && !stop_requested_; ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      for (auto* c : callbacks) c->on_epoch_begin(*this, epoch);
      EpochLogs logs;
      logs.epoch = epoch;
      logs.learning_rate = optimizer_->learning_rate();
      std::iota(order.begin(), order.end(), std::size_t{0});
      if (options.shuffle) shuffle_order(order, options.seed, epoch);

      double loss_sum = 0, correct = 0;
      std::size_t seen = 0;
      for (std::size_t batch = 0; batch < batches && !stop_requested_; ++batch) {
        const std::size_t first = batch * options.batch_size;
        const std::size_t n = std::min(options.batch_size, train_count - first);
        {
          detail::ProfileTimer timer(timer_sink(&TrainingProfile::data));
          train.gather(order.data() + first, n, activations_[0].data(), labels_.data());
        }
        const BatchResult result = train_on_batch(activation(0, n), labels_.slice(0, n));
        loss_sum += result.loss * n;
        correct += result.accuracy * n;
        seen += n;
        BatchLogs batch_logs{epoch, batch, n, result.loss, result.accuracy};
        for (auto* c : callbacks) c->on_batch_end(*this, batch_logs);
      }
      logs.loss = loss_sum / seen;
      logs.accuracy = correct / seen;
      logs.has_validation = validation != nullptr;  // val_* stay NaN in an epoch a stop cut short
      if (validation && !stop_requested_) {
        detail::ProfileTimer timer(timer_sink(&TrainingProfile::evaluation));
        const Evaluation v = evaluate_range(*validation, validation_first, validation_count, options.batch_size);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      logs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      history.epochs.push_back(logs);
      epochs_completed_ = epoch + 1;
      for (auto* c : callbacks) c->on_epoch_end(*this, logs);
    }
    history.stop_reason = stop_reason_;
    for (auto* c : callbacks) c->on_train_end(*this, history);
    return history;
  }

  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Shape> shapes_;  // item shapes: [0] the input, [i + 1] the output of layer i
  std::vector<std::pair<std::string, Param<T>>> named_;
  std::vector<Param<T>> params_;
  std::size_t first_trainable_ = 0;  // the first layer with trainable parameters; backward stops there
  std::unique_ptr<Optimizer<T>> optimizer_;
  SoftmaxCrossEntropy<T> loss_;

  std::size_t capacity_ = 0;
  std::vector<Tensor<T>> activations_;   // [0] the input batch, [i + 1] the output of layer i
  AlignedBuffer<T> gradients_[2];        // dL/d(activation), used in turn going backward
  Tensor<std::int32_t> labels_;
  std::vector<std::size_t> indices_;
  TensorView<const T> input_;

  bool stop_requested_ = false;
  std::string stop_reason_;
  std::size_t epochs_completed_ = 0;

  bool profiling_ = false;
  TrainingProfile profile_;
};

}  // namespace tinydl

#include "tinydl/model/serialization.hpp"  // definitions of save / load_weights / training state
