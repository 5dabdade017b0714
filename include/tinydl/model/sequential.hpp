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
/// The class holds the stack and runs one batch: forward through every layer, the loss, the
/// chain rule backward, the optimizer step. The rest lives beside it, each written against the
/// model's public interface: the training loop and evaluation over datasets in trainer.hpp, the
/// table in summary.hpp, files in serialization.hpp, timing in profile.hpp. The members `fit`,
/// `summary`, `save`, ... are the one-line doors to them users know from Keras.
///
/// Memory is planned, not allocated on the go: `reserve(batch)` (called by fit, evaluate and
/// predict) sizes one activation buffer per layer output, two gradient buffers used in turn, and
/// each layer's scratch, for the largest batch seen. A training step then allocates nothing.
///
/// The model outputs logits; `predict` turns them into probabilities.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "tinydl/core/batch_shards.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/rng.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/data/dataset.hpp"
#include "tinydl/kernels/softmax.hpp"
#include "tinydl/layers/fused_forward.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/losses/softmax_cross_entropy.hpp"
#include "tinydl/losses/target_loss.hpp"
#include "tinydl/model/callback.hpp"
#include "tinydl/model/history.hpp"
#include "tinydl/model/profile.hpp"
#include "tinydl/model/serialization.hpp"
#include "tinydl/model/summary.hpp"
#include "tinydl/model/trainer.hpp"
#include "tinydl/optim/optimizer.hpp"

namespace tinydl {

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
    check<ConfigError>(!built(),
                       "Sequential::add: the model is already built; add every layer before build()");
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
        throw ShapeError(detail::concat("Sequential: layer ", i, " (", layer.name(),
                                        ") does not fit its input ", shape, ": ", e.what()));
      }
      shapes_.push_back(tinydl::item_shape(shape));
    }
    check<ShapeError>(shape.rank() == 2, "Sequential: the last layer must output (N, classes) logits, got ",
                      shape);
    collect_parameters();
  }

  bool built() const { return !shapes_.empty(); }
  std::size_t size() const { return layers_.size(); }
  Layer<T>& layer(std::size_t i) { return *layers_.at(i); }
  const Layer<T>& layer(std::size_t i) const { return *layers_.at(i); }
  /// The shape of one input example.
  const Shape& input_shape() const { return require_built().shapes_.front(); }
  /// The shape of one example of layer i's output.
  const Shape& output_shape(std::size_t i) const { return require_built().shapes_.at(i + 1); }
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
    for (auto& layer : layers_) layer->reserve(max_batch);
    capacity_ = max_batch;
  }

  /// The batch size memory is planned for (0 before the first reserve).
  std::size_t capacity() const { return capacity_; }

  /// The planned input buffer for a batch of `n` (at most `capacity()`) examples: a batch
  /// gathered here goes to `forward` or `train_on_batch` without a copy.
  TensorView<T> input_batch(std::size_t n) {
    check<ConfigError>((n > 0 || shards_) && n <= capacity_, "Sequential::input_batch: ", n,
                       " examples, memory is planned for ", capacity_, " (reserve first)");
    return activation(0, n);
  }

  /// Every parameter and state tensor, in layer order, named as in `torch.nn.Sequential`'s
  /// state_dict ("0.weight", "1.running_mean", ...).
  const std::vector<std::pair<std::string, Param<T>>>& named_parameters() const {
    return require_built().named_;
  }
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

  /// Number of parameter and state values of layer i (counters excluded), as `summary` shows.
  std::size_t layer_parameter_count(std::size_t i) const {
    require_built();
    return layer_values_.at(i);
  }

  /// The Keras-like table of summary.hpp: each layer's output shape and parameter count.
  std::string summary() const { return tinydl::summary(*this); }

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
  /// Sets the optimizer and the loss: `SoftmaxCrossEntropy` (with class weights, if any) for
  /// integer labels, or `MeanSquaredError` / `BinaryCrossEntropyWithLogits` for a `Dataset` of
  /// float targets (Keras's `compile(optimizer, loss=...)`).
  template <typename O, typename L, typename = std::enable_if_t<std::is_base_of_v<Optimizer<T>, O>>>
  void compile(O optimizer, L loss) {
    compile(std::move(optimizer));
    set_loss(std::move(loss));
  }
  /// The loss for integer labels; the model then trains on labels only.
  void set_loss(SoftmaxCrossEntropy<T> loss) {
    loss_ = std::move(loss);
    target_loss_ = TargetLoss<T>();
  }
  /// The loss for float targets; the model then trains on targets only.
  void set_loss(TargetLoss<T> loss) { target_loss_ = std::move(loss); }
  void set_loss(MeanSquaredError<T> loss) { set_loss(TargetLoss<T>(loss)); }
  void set_loss(BinaryCrossEntropyWithLogits<T> loss) { set_loss(TargetLoss<T>(std::move(loss))); }
  /// The loss for float targets (empty when the model trains on integer labels).
  const TargetLoss<T>& target_loss() const { return target_loss_; }

  bool compiled() const { return optimizer_ != nullptr; }
  Optimizer<T>& optimizer() { return *require_compiled().optimizer_; }
  const Optimizer<T>& optimizer() const { return *require_compiled().optimizer_; }
  /// The loss the model trains with.
  const SoftmaxCrossEntropy<T>& loss() const { return loss_; }

  /// Trains with class weights from now on (`fit` sets them from `FitOptions::class_weight` for
  /// its steps): softmax cross-entropy weighted per class, its mean over the weights (PyTorch's
  /// `nn.CrossEntropyLoss(weight=...)`). Empty: unweighted. Throws `ConfigError` for bad weights.
  void set_class_weights(std::vector<double> class_weights) {
    loss_ =
        class_weights.empty() ? SoftmaxCrossEntropy<T>() : SoftmaxCrossEntropy<T>(std::move(class_weights));
  }

  // ---- running one batch ------------------------------------------------------------------------

  /// Runs the batch `x` (N, ...) through every layer; returns a view of the logits (N, classes),
  /// valid until the next call. An evaluation pass is fused (see `forward_fused`).
  TensorView<const T> forward(TensorView<const T> x, Mode mode) {
    const std::size_t n = check_batch(x.shape());
    input_ = x;
    if (mode == Mode::eval) return forward_fused(x, n);
    TensorView<const T> in = x;
    StepObserver* observer = mode == Mode::train ? this->observer() : nullptr;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      TensorView<T> out = activation(i + 1, n);
      {
        detail::Observed observed(observer, StepPart::forward, i);
        layers_[i]->forward(in, out, mode);
      }
      in = out;
    }
    return in;
  }

  /// Whether a training step runs layer i's backward inside layer i + 1's (a ReLU before a
  /// MaxPool2D: see `backward`); an observer then hears no backward of layer i, and the profile's
  /// time for it is in layer i + 1's.
  bool backward_done_by_next(std::size_t i) const {
    return i + 1 < layers_.size() && layers_[i]->backward_is_relu() &&
           layers_[i + 1]->absorbs_relu_backward();
  }

  /// The logits of the last forward pass (N, classes); valid until the next pass.
  TensorView<const T> outputs() const {
    check<Error>(input_.data() != nullptr, "Sequential::outputs: no forward pass yet");
    return activations_.back().slice(0, input_.shape()[0]);
  }

  /// Data-parallel training (core/batch_shards.hpp; `fit` sets it for its steps, null otherwise):
  /// the batches of `compute_gradients` are then this process's part of a global batch, which
  /// may be empty, and the gradients, loss and accuracy are those of the global batch.
  void set_batch_shards(BatchShards* shards) {
    shards_ = shards;
    for (auto& layer : layers_) layer->set_batch_shards(shards);
  }
  BatchShards* batch_shards() const { return shards_; }

  /// Forward in training mode, loss, and backward: the parameter gradients are overwritten with
  /// those of the mean loss of this batch, weighted per item by `sample_weights` (N) if given.
  /// Returns the loss and accuracy; takes no optimizer step.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  BatchResult compute_gradients(TensorView<const T> x, TensorView<Label> labels,
                                TensorView<const float> sample_weights = {}) {
    BatchResult result;
    compute_gradients_with(x, [&](TensorView<const T> logits, TensorView<T> dlogits) {
      if (shards_) {
        result = global_loss(logits, labels, dlogits, sample_weights);
      } else {
        result.loss = loss_(logits, labels, dlogits, sample_weights);
        result.accuracy = detail::batch_accuracy(logits, labels);
      }
    });
    return result;
  }

  /// The same for float targets (N, K) with the model's target loss (`compile(optimizer,
  /// MeanSquaredError<T>())`); the accuracy is the binary accuracy for BCE, NaN for a regression.
  /// Throws `ConfigError` when the model has no target loss.
  BatchResult compute_gradients(TensorView<const T> x, TensorView<const T> targets,
                                TensorView<const float> sample_weights = {}) {
    check<ConfigError>(!target_loss_.empty(),
                       "Sequential: float targets need a loss for them; compile the model "
                       "with one: model.compile(optimizer, MeanSquaredError<T>())");
    BatchResult result;
    compute_gradients_with(x, [&](TensorView<const T> outputs, TensorView<T> doutputs) {
      if (shards_) {
        result = global_loss(target_loss_, outputs, targets, doutputs, sample_weights);
      } else {
        result.loss = target_loss_(outputs, targets, doutputs, sample_weights);
        result.accuracy = target_loss_.correct(outputs, targets) / static_cast<double>(outputs.shape()[0]);
      }
    });
    return result;
  }

  /// One training step on a batch: gradients, then one optimizer step.
  template <typename Label, typename = std::enable_if_t<std::is_integral_v<std::remove_const_t<Label>>>>
  BatchResult train_on_batch(TensorView<const T> x, TensorView<Label> labels,
                             TensorView<const float> sample_weights = {}) {
    return step_after([&] { return compute_gradients(x, labels, sample_weights); });
  }

  /// One training step on float targets (N, K) with the model's target loss.
  BatchResult train_on_batch(TensorView<const T> x, TensorView<const T> targets,
                             TensorView<const float> sample_weights = {}) {
    return step_after([&] { return compute_gradients(x, targets, sample_weights); });
  }

  /// One training step with a loss of the caller's choosing (`MeanSquaredError`,
  /// `BinaryCrossEntropyWithLogits`, or any other): `loss(outputs, doutputs)` gets the model's
  /// outputs (N, K) and writes dL/doutputs into `doutputs` (N, K); its return value is returned.
  /// Then backward and one optimizer step, as `train_on_batch` does with the model's loss:
  ///
  ///     MeanSquaredError<float> mse;
  ///     float loss = model.train_on_batch(x, [&](auto outputs, auto doutputs) {
  ///       return mse(outputs, targets, doutputs);
  ///     });
  ///
  /// Not for data-parallel steps (`set_batch_shards`): throws `ConfigError` there.
  template <typename LossFunction,
            typename Result = std::invoke_result_t<LossFunction&, TensorView<const T>, TensorView<T>>>
  Result train_on_batch(TensorView<const T> x, LossFunction&& loss) {
    static_assert(std::is_arithmetic_v<Result>, "train_on_batch: the loss function must return the loss");
    check<ConfigError>(shards_ == nullptr,
                       "Sequential::train_on_batch: a loss function of your own trains on whole batches; "
                       "data-parallel steps use the model's loss");
    return step_after([&] {
      Result value{};
      compute_gradients_with(
          x, [&](TensorView<const T> outputs, TensorView<T> doutputs) { value = loss(outputs, doutputs); });
      return value;
    });
  }

  /// Class probabilities (N, classes) for a batch of inputs already in the model's scalar type;
  /// with a target loss, the outputs themselves (MSE) or each label's probability sigma(z) (BCE).
  Tensor<T> predict(TensorView<const T> x, std::size_t batch_size = 0) {
    const std::size_t n = x.rank() ? x.shape()[0] : 0;
    check<ShapeError>(n > 0, "predict: empty input ", x.shape());
    check_item_shape(tinydl::item_shape(x.shape()), "predict");
    Tensor<T> probabilities(Shape{n, classes()});
    if (batch_size == 0) batch_size = capacity_ ? capacity_ : 64;
    reserve(batch_size);
    for (std::size_t first = 0; first < n; first += batch_size) {
      const std::size_t count = std::min(batch_size, n - first);
      const auto logits = forward(x.slice(first, first + count), Mode::eval);
      output_probabilities(count, logits.data(), probabilities.data() + first * classes());
    }
    return probabilities;
  }

  /// What `predict` returns for `count` rows of logits (count, classes): their softmax, or with a
  /// target loss the outputs themselves (MSE) or their sigmoids (BCE).
  void output_probabilities(std::size_t count, const T* logits, T* out) const {
    if (target_loss_.empty())
      kernels::softmax_rows(count, classes(), logits, out);
    else
      target_loss_.activate(count * classes(), logits, out);
  }

  // ---- over datasets (model/trainer.hpp) ----------------------------------------------------------

  /// Trains on `train`, holding out `options.validation_split` of it for validation.
  template <typename X>
  History fit(const Dataset<X>& train, const FitOptions& options = {},
              const std::vector<Callback<T>*>& callbacks = {}) {
    return Trainer<T>(*this).fit(train, options, callbacks);
  }

  /// Trains on `train` and validates on `validation` after every epoch.
  template <typename X>
  History fit(const Dataset<X>& train, const Dataset<X>& validation, const FitOptions& options = {},
              const std::vector<Callback<T>*>& callbacks = {}) {
    return Trainer<T>(*this).fit(train, validation, options, callbacks);
  }

  /// Mean loss and accuracy over `data`, in evaluation mode. `batch_size` 0 means the planned batch.
  template <typename X>
  Evaluation evaluate(const Dataset<X>& data, std::size_t batch_size = 0) {
    return Trainer<T>(*this).evaluate(data, 0, data.size(), batch_size);
  }

  /// Class probabilities (N, classes) for every example of `data`, in batches.
  template <typename X>
  Tensor<T> predict(const Dataset<X>& data, std::size_t batch_size = 0) {
    return Trainer<T>(*this).predict(data, batch_size);
  }

  // ---- files (model/serialization.hpp) -------------------------------------------------------------

  /// `save_model`: weights, state and architecture as safetensors PyTorch reads. Atomic.
  void save(const std::string& path) const { tinydl::save_model(*this, path); }
  /// `load_weights` into this built model; a file that does not fit throws and changes nothing.
  void load_weights(const std::string& path) { tinydl::load_weights(*this, path); }
  /// `load_weights` from an open file, reading the tensors named `prefix` + key.
  void load_weights(const io::SafetensorsFile& file, const std::string& prefix = "") {
    tinydl::load_weights(*this, file, prefix);
  }
  /// `save_training_state`: weights plus optimizer state, epochs completed and layer counters.
  void save_training_state(const std::string& path) const { tinydl::save_training_state(*this, path); }
  /// `load_training_state` into this built and compiled model (same architecture and optimizer
  /// type). Resume with `fit(..., {.initial_epoch = model.epochs_completed()})`.
  void load_training_state(const std::string& path) { tinydl::load_training_state(*this, path); }

  // ---- control and weights ------------------------------------------------------------------------

  /// Asks `fit` to stop after the current batch; `reason` ends up in `History::stop_reason`.
  void stop_training(std::string reason) {
    stop_requested_ = true;
    stop_reason_ = std::move(reason);
  }
  bool stop_requested() const { return stop_requested_; }
  const std::string& stop_reason() const { return stop_reason_; }
  /// Forgets a stop request; `fit` calls it when it starts.
  void clear_stop_request() {
    stop_requested_ = false;
    stop_reason_.clear();
  }

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
                        weights[i].shape(), ", parameter '", named_[i].first, "' is ",
                        params[i].value.shape());
    for (std::size_t i = 0; i < params.size(); ++i)
      std::copy(weights[i].begin(), weights[i].end(), params[i].value.begin());
  }

  /// Every layer's `counters()` (Dropout's step), in layer order: what a training state saves
  /// beside the tensors.
  std::vector<std::uint64_t> counters() const {
    std::vector<std::uint64_t> all;
    for (const auto& layer : layers_) {
      const std::vector<std::uint64_t> mine = layer->counters();
      all.insert(all.end(), mine.begin(), mine.end());
    }
    return all;
  }

  /// Restores `counters()`. Throws `ConfigError`, changing nothing, unless there are exactly as
  /// many values as the layers have counters.
  void set_counters(const std::vector<std::uint64_t>& values) {
    const std::size_t expected = counters().size();
    check<ConfigError>(values.size() == expected, "Sequential::set_counters: ", values.size(),
                       " values for the ", expected, " counters of the model's layers");
    auto next = values.begin();
    for (auto& layer : layers_) {
      const std::size_t count = layer->counters().size();
      if (count == 0) continue;
      layer->set_counters(std::vector<std::uint64_t>(next, next + static_cast<std::ptrdiff_t>(count)));
      next += static_cast<std::ptrdiff_t>(count);
    }
  }

  // ---- observing ----------------------------------------------------------------------------------

  /// Tells `observer` (not owned; null to stop) about every part and layer call of the training
  /// steps from now on (profile.hpp). Without one, a step pays a null test per layer call. While
  /// profiling is on, the profiler is the observer instead.
  void set_observer(StepObserver* observer) { observer_ = observer; }
  /// The observer the steps report to: the profiler while profiling, else the one set (or null).
  StepObserver* observer() { return profiling_ ? &profiler_ : observer_; }

  /// Turns per-layer timing of training steps on or off (off by default): the model's own
  /// `Profiler` observes the steps. The times add up until `profile().reset()`.
  void set_profiling(bool on) {
    require_built();
    std::vector<std::string> names;
    for (const auto& layer : layers_) names.push_back(layer->name() + " (" + layer->type() + ")");
    profiler_.set_layer_names(names);
    profiling_ = on;
  }
  bool profiling() const { return profiling_; }
  /// Where the training steps' time went since profiling started (or the last reset).
  const TrainingProfile& profile() const { return profiler_.profile(); }
  TrainingProfile& profile() { return profiler_.profile(); }

 private:
  const Sequential& require_built() const {
    check<ConfigError>(built(), "Sequential: build(input_shape) the model first");
    return *this;
  }
  const Sequential& require_compiled() const {
    check<ConfigError>(compiled(), "Sequential: compile() the model with an optimizer first");
    return *this;
  }

  void collect_parameters() {
    named_.clear();
    params_.clear();
    layer_values_.assign(layers_.size(), 0);
    stages_.resize(layers_.size());
    first_trainable_ = layers_.size();
    for (std::size_t i = 0; i < layers_.size(); ++i)
      for (auto& p : layers_[i]->params()) {
        named_.emplace_back(std::to_string(i) + "." + p.name, p);
        params_.push_back(p);
        if (!p.integer) layer_values_[i] += p.value.size();
        if (p.trainable()) first_trainable_ = std::min(first_trainable_, i);
      }
  }

  /// The chain rule, from dL/dlogits of the last forward pass down to the first layer with
  /// trainable parameters: no one needs the gradient of its input (for an MLP, the Flatten before
  /// the first Dense), so it is not computed. Layer i reads dy and writes dx into the two
  /// gradient buffers in turn. A layer that can do the backward of the ReLU before it (MaxPool2D)
  /// does, and the ReLU's own pass over the tensor is skipped: the same bits, one pass fewer.
  void backward(TensorView<T> dlogits) {
    const std::size_t n = dlogits.shape()[0];
    TensorView<T> dy = dlogits;
    std::size_t buffer = 1;  // (dlogits is in buffer 0)
    for (std::size_t i = layers_.size(); i-- > first_trainable_;) {
      const TensorView<const T> in = i == 0 ? input_ : TensorView<const T>(activation(i, n));
      const bool through_relu = i > first_trainable_ + 1 && backward_done_by_next(i - 1);
      TensorView<T> dx =
          i == first_trainable_ ? TensorView<T>() : TensorView<T>(gradients_[buffer].data(), in.shape());
      buffer ^= 1;
      {
        detail::Observed observed(observer(), StepPart::backward, i);
        if (through_relu)
          layers_[i]->backward_through_relu(in, activation(i + 1, n), dy, dx);
        else
          layers_[i]->backward(in, activation(i + 1, n), dy, dx);
      }
      if (through_relu) --i;  // dx is the ReLU's dx: its input has the shape of its output
      dy = dx;
    }
    if (shards_) {  // data-parallel: the gradient exchanges begun going down, completed here
      detail::Observed observed(observer(), StepPart::backward, first_trainable_);
      for (std::size_t i = first_trainable_; i < layers_.size(); ++i) layers_[i]->finish_backward();
    }
  }

  /// `gradients()` (which computes them and returns the step's result), then one optimizer step.
  template <typename Gradients>
  auto step_after(Gradients&& gradients) {
    Optimizer<T>& opt = optimizer();  // (throws before any work unless compiled)
    const auto result = gradients();
    detail::Observed observed(observer(), StepPart::optimizer);
    opt.step(params_);
    return result;
  }

  /// Zeroes the gradients, runs forward in training mode, lets `loss(logits, dlogits)` write
  /// dL/dlogits, and runs backward.
  template <typename LossStep>
  void compute_gradients_with(TensorView<const T> x, LossStep&& loss) {
    {
      detail::Observed observed(observer(), StepPart::zero_grad);
      for (const auto& p : params_)
        if (p.trainable())
          parallel_ranges(p.grad.size(), [grad = p.grad.data()](std::size_t begin, std::size_t end) {
            std::fill(grad + begin, grad + end, T(0));
          });
    }
    const TensorView<const T> logits = forward(x, Mode::train);
    TensorView<T> dlogits(gradients_[0].data(), logits.shape());
    {
      detail::Observed observed(observer(), StepPart::loss);
      loss(logits, dlogits);
    }
    backward(dlogits);
  }

  /// Loss and accuracy of the global batch, and dL/dlogits of its mean loss for this process's
  /// part: per-shard sums of the losses and of the correct predictions, added in shard order.
  /// With class weights the mean is over the global batch's weights: their per-shard sums are
  /// exchanged first (in shard order, so every process divides by the same bits).
  template <typename Loss, typename Targets>
  BatchResult global_loss(const Loss& loss, TensorView<const T> logits, Targets targets,
                          TensorView<T> dlogits, TensorView<const float> sample_weights) {
    return global_loss_of(
        logits, targets, sample_weights, [&](auto z, auto t, auto w) { return loss.weight_sum(z, t, w); },
        [&](auto z, auto t, auto dz, double denominator, auto w) {
          return loss.sum(z, t, dz, denominator, w);
        },
        [&](auto z, auto t) { return loss.correct(z, t); }, dlogits, true);
  }

  template <typename Label>
  BatchResult global_loss(TensorView<const T> logits, TensorView<Label> labels, TensorView<T> dlogits,
                          TensorView<const float> sample_weights) {
    return global_loss_of(
        logits, labels, sample_weights, [&](auto z, auto l, auto w) { return loss_.weight_sum(z, l, w); },
        [&](auto z, auto l, auto dz, double denominator, auto w) {
          return loss_.sum(z, l, dz, denominator, w);
        },
        [&](auto z, auto l) { return static_cast<double>(detail::batch_correct(z, l)); }, dlogits,
        !loss_.class_weights().empty());
  }

  /// global_loss for any loss: `weight_sum`, `sum` and `correct` of one shard's items;
  /// `exchange_weights` when the denominator is not the global item count.
  template <typename Targets, typename WeightSum, typename Sum, typename Correct>
  BatchResult global_loss_of(TensorView<const T> logits, Targets labels,
                             TensorView<const float> sample_weights, WeightSum weight_sum, Sum loss_sum,
                             Correct batch_correct, TensorView<T> dlogits, bool exchange_weights) {
    BatchShards& shards = *shards_;
    ensure_capacity(shard_sums_, 2 * (shards.local_shards() + shards.shards() + 1));
    double* local = shard_sums_.data();
    double* all = local + 2 * shards.local_shards();
    double* total = all + 2 * shards.shards();
    const auto shard = [&](std::size_t i, auto view) {
      return view.data() ? view.slice(shards.local_begin(i), shards.local_begin(i + 1)) : view;
    };
    double weights = static_cast<double>(shards.global_batch());
    if (exchange_weights || sample_weights.data()) {
      for (std::size_t i = 0; i < shards.local_shards(); ++i)
        local[i] = weight_sum(shard(i, logits), shard(i, labels), shard(i, sample_weights));
      shards.sum(local, 1, all, total);
      weights = total[0];
      check<Error>(weights > 0, "Sequential: the batch's weights sum to 0");
    }
    for (std::size_t i = 0; i < shards.local_shards(); ++i) {
      local[2 * i] =
          loss_sum(shard(i, logits), shard(i, labels), shard(i, dlogits), weights, shard(i, sample_weights));
      local[2 * i + 1] = batch_correct(shard(i, logits), shard(i, labels));
    }
    shards.sum(local, 2, all, total);
    // (the loss rounded as the unsharded one is)
    return {static_cast<T>(total[0] / weights), total[1] / static_cast<double>(shards.global_batch())};
  }

  /// An evaluation pass with the layers fused where a kernel can do a neighbour's work
  /// (layers/fused_forward.hpp): a Conv2D or Dense layer applies the BatchNorm, ReLU and Dropout
  /// layers after it in its GEMM's epilogue, and layers that only reshape hand their input on.
  TensorView<const T> forward_fused(TensorView<const T> x, std::size_t n) {
    return tinydl::forward_fused(layers_, stages_, x, [this, n](std::size_t k) { return activation(k, n); });
  }

  /// Activation i (0: the input, i: the output of layer i-1) for a batch of n, as a view.
  TensorView<T> activation(std::size_t i, std::size_t n) { return activations_[i].slice(0, n); }

  void check_item_shape(const Shape& item, const char* who) const {
    check<ShapeError>(item == input_shape(), who, ": the model takes examples of shape ", input_shape(),
                      ", got ", item);
  }

  /// Checks a batch shape and plans memory for it; returns the batch size.
  std::size_t check_batch(const Shape& batch) {
    require_built();
    check<ShapeError>(batch.rank() >= 2 && (batch[0] > 0 || shards_), "Sequential: expected a batch ",
                      batch_of_items(input_shape()), ", got ", batch);
    check_item_shape(tinydl::item_shape(batch), "Sequential");
    if (batch[0] > 0) reserve(batch[0]);  // (an empty part of a data-parallel batch needs nothing)
    return batch[0];
  }

  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Shape> shapes_;  // item shapes: [0] the input, [i + 1] the output of layer i
  std::vector<std::pair<std::string, Param<T>>> named_;
  std::vector<Param<T>> params_;
  std::vector<std::size_t> layer_values_;  // parameter and state values per layer, counters excluded
  std::size_t first_trainable_ = 0;        // the first layer with trainable parameters; backward stops there
  std::unique_ptr<Optimizer<T>> optimizer_;
  SoftmaxCrossEntropy<T> loss_;
  TargetLoss<T> target_loss_;           // the loss for float targets, if the model trains on them
  std::vector<OutputStage<T>> stages_;  // forward_fused's, one per layer that may begin one

  std::size_t capacity_ = 0;
  std::vector<Tensor<T>> activations_;  // [0] the input batch, [i + 1] the output of layer i
  AlignedBuffer<T> gradients_[2];       // dL/d(activation), used in turn going backward
  TensorView<const T> input_;
  BatchShards* shards_ = nullptr;     // data-parallel training steps (set_batch_shards)
  AlignedBuffer<double> shard_sums_;  // global_loss's exchange

  bool stop_requested_ = false;
  std::string stop_reason_;
  std::size_t epochs_completed_ = 0;

  StepObserver* observer_ = nullptr;  // the user's, if any
  bool profiling_ = false;            // whether profiler_ observes instead
  Profiler profiler_;
};

}  // namespace tinydl
