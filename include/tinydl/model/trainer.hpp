#pragma once
/// @file trainer.hpp
/// `Trainer<T>`: the training loop of `Sequential::fit`, with `evaluate` and `predict` over
/// datasets, as Keras keeps them beside its models: the model is a stack of layers that runs one
/// batch (forward, backward, optimizer step); the trainer decides which batches, in what order,
/// and when the callbacks hear of it.
///
/// The data path of one epoch: an `EpochIterator` orders the examples (shuffled from (seed,
/// epoch)) and gathers each batch, converted to T, into the model's planned input buffer;
/// `train_on_batch` runs forward, loss, backward and the optimizer step; the batch's loss and
/// accuracy go to `on_batch_end`; after the last batch, the validation range is evaluated and
/// the epoch's logs go to `on_epoch_end`, where a callback may stop training.
///
/// The trainer knows the model only through its public interface (it is written against the
/// declaration of `Sequential`, which includes this header so that `model.fit(...)` works).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <memory>
#include <vector>

#include "tinydl/core/batch_shards.hpp"
#include "tinydl/core/communicator.hpp"
#include "tinydl/core/error.hpp"
#include "tinydl/core/parallel.hpp"
#include "tinydl/core/scratch.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/data/augmentation.hpp"
#include "tinydl/data/dataset.hpp"
#include "tinydl/kernels/softmax.hpp"
#include "tinydl/layers/layer.hpp"
#include "tinydl/losses/softmax_cross_entropy.hpp"
#include "tinydl/losses/target_loss.hpp"
#include "tinydl/model/callback.hpp"
#include "tinydl/model/epoch_iterator.hpp"
#include "tinydl/model/history.hpp"
#include "tinydl/model/profile.hpp"
#include "tinydl/model/progress_bar.hpp"
#include "tinydl/optim/optimizer.hpp"

namespace tinydl {

template <typename T>
class Sequential;

/// Options of `fit`, in the order of Keras's arguments.
struct FitOptions {
  std::size_t epochs = 1;  ///< train until this epoch count (with initial_epoch: resume)
  std::size_t batch_size = 32;
  double validation_split = 0;  ///< fraction held out from the END of the training data, before shuffling
  bool shuffle = true;          ///< reshuffle the training examples every epoch
  std::uint64_t seed = 0;       ///< shuffling order: epoch e's order depends only on (seed, e)
  int verbose = 1;  ///< 0 silent, 1 progress bar (one line per epoch off a terminal), 2 one line per epoch
  std::size_t initial_epoch = 0;  ///< first epoch to run (to resume an interrupted run)
  /// Data-parallel training over these processes (not owned; see distributed/): each trains on
  /// its part of every batch, validation is split between them, and all end with the same
  /// weights and logs. Null: this process alone.
  Communicator* communicator = nullptr;
  /// Shards of each batch whose sums (gradients, batch statistics, loss) are added in a fixed
  /// order (core/batch_shards.hpp): weights are byte-identical for any number of processes up
  /// to this many. 0: `default_gradient_shards` with a communicator, else 1 (one sum over the
  /// whole batch, the fastest alone). Alone with 8, a run matches a data-parallel one.
  std::size_t gradient_shards = 0;
  /// Random shifts and flips of the training images, drawn from (seed, epoch, example): see
  /// data/augmentation.hpp. Needs image examples (C, H, W). Off by default.
  ImageAugmentation augmentation;
  /// One weight per class for the training loss (Keras's `class_weight`; the mean over the weights,
  /// as PyTorch's `nn.CrossEntropyLoss(weight=...)`): a rare class can count as much as a frequent
  /// one. Empty: unweighted. Validation and `evaluate` report the unweighted loss, as Keras does.
  /// Per-example weights are the training dataset's (`Dataset::set_sample_weights`); an
  /// example's weight is then its sample weight times its class's weight.
  std::vector<double> class_weight;
  /// With a communicator: false trades the byte-identity for speed: each process sums its own
  /// part of a batch at once and the sums are one MPI_Allreduce each (summed in MPI's order, so
  /// results vary in the last bits with the number of processes). gradient_shards is then unused.
  bool exact = true;
};

/// The shards of a batch in data-parallel training unless FitOptions::gradient_shards says.
inline constexpr std::size_t default_gradient_shards = 8;

/// Mean loss and accuracy of one batch.
struct BatchResult {
  double loss = 0, accuracy = 0;
};

/// Mean loss and accuracy over a dataset.
struct Evaluation {
  double loss = 0, accuracy = 0;
  std::size_t samples = 0;
};

namespace detail {

/// FNV-1a over what is added: a fingerprint to compare between processes.
struct Fingerprint {
  std::uint64_t hash = 14695981039346656037ull;
  void add_bytes(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ull;
  }
  void add(const std::string& text) { add_bytes(text.data(), text.size() + 1); }
  template <typename... V>
  void add(V... values) {
    (add_value(static_cast<std::uint64_t>(values)), ...);
  }

 private:
  void add_value(std::uint64_t v) { add_bytes(&v, sizeof v); }
};

/// The number of rows of `logits` (N, classes) whose largest entry is at the row's label.
template <typename T, typename Label>
std::size_t batch_correct(TensorView<const T> logits, TensorView<Label> labels) {
  const std::size_t n = logits.shape()[0], classes = logits.shape()[1];
  std::size_t correct = 0;
  for (std::size_t b = 0; b < n; ++b) {
    const T* row = logits.data() + b * classes;
    const std::size_t best = static_cast<std::size_t>(std::max_element(row, row + classes) - row);
    correct += best == static_cast<std::size_t>(labels[b]);
  }
  return correct;
}

/// The fraction of rows of `logits` (N, classes) whose largest entry is at the row's label.
template <typename T, typename Label>
double batch_accuracy(TensorView<const T> logits, TensorView<Label> labels) {
  return static_cast<double>(batch_correct(logits, labels)) / static_cast<double>(logits.shape()[0]);
}

}  // namespace detail

/// Runs `fit`, `evaluate` and `predict` over datasets for one model; see the file comment.
template <typename T>
class Trainer {
 public:
  explicit Trainer(Sequential<T>& model) : model_(model) {}

  /// Trains on `train`, holding out `options.validation_split` of it for validation.
  template <typename X>
  History fit(const Dataset<X>& train, const FitOptions& options,
              const std::vector<Callback<T>*>& callbacks) {
    check<ConfigError>(options.validation_split >= 0 && options.validation_split < 1,
                       "fit: validation_split must be in [0, 1), got ", options.validation_split);
    const std::size_t held_out =
        static_cast<std::size_t>(static_cast<double>(train.size()) * options.validation_split);
    return run(train, train.size() - held_out, held_out ? &train : nullptr, train.size() - held_out, held_out,
               options, callbacks);
  }

  /// Trains on `train` and validates on `validation` after every epoch.
  template <typename X>
  History fit(const Dataset<X>& train, const Dataset<X>& validation, const FitOptions& options,
              const std::vector<Callback<T>*>& callbacks) {
    check<ConfigError>(options.validation_split == 0,
                       "fit: give validation data or a validation_split, not both");
    check<ShapeError>(!validation.empty(), "fit: the validation dataset is empty");
    return run(train, train.size(), &validation, 0, validation.size(), options, callbacks);
  }

  /// Mean loss and accuracy over examples [first, first + count) of `data`, in evaluation mode.
  /// `batch_size` 0 means the model's planned batch. With a communicator (set by `fit`), the
  /// batches are split between the processes and their sums gathered and added in batch order:
  /// every process gets what one process evaluating all of them would.
  template <typename X>
  Evaluation evaluate(const Dataset<X>& data, std::size_t first, std::size_t count, std::size_t batch_size) {
    check<ShapeError>(count > 0, "evaluate: the dataset is empty");
    check_item_shape(data.item_shape(), "evaluate");
    check_labels(data, first, count, "evaluate");
    batch_size = planned_batch(batch_size);
    EpochIterator<X> batches(data, first, count, batch_size);
    const std::size_t total = batches.batches();
    const std::size_t processes = communicator_ ? static_cast<std::size_t>(communicator_->size()) : 1;
    const std::size_t rank = communicator_ ? static_cast<std::size_t>(communicator_->rank()) : 0;
    const std::size_t mine = rank * total / processes, mine_end = (rank + 1) * total / processes;
    std::vector<double> sums(2 * total);  // per batch: loss * n, correct
    const TargetLoss<T>& target_loss = model_.target_loss();
    if (data.has_targets()) target_buffer(data, batch_size);
    for (std::size_t b = mine; b < mine_end; ++b) {
      const std::size_t n =
          batches.gather(b, model_.input_batch(batch_size).data(), labels_.data(), nullptr, targets_.data());
      const auto logits = model_.forward(model_.input_batch(n), Mode::eval);
      if (data.has_targets()) {
        const auto targets = targets_.slice(0, n);
        sums[2 * b] = static_cast<double>(target_loss(logits, targets)) * n;  // unweighted
        sums[2 * b + 1] = target_loss.correct(logits, targets);
      } else {
        const auto labels = labels_.slice(0, n);
        sums[2 * b] = static_cast<double>(SoftmaxCrossEntropy<T>()(logits, labels)) * n;  // unweighted
        sums[2 * b + 1] = static_cast<double>(detail::batch_correct(logits, labels));
      }
    }
    if (processes > 1) {
      std::vector<std::size_t> counts(processes);
      for (std::size_t r = 0; r < processes; ++r)
        counts[r] = 2 * ((r + 1) * total / processes - r * total / processes);
      const std::vector<double> local(sums.begin() + 2 * mine, sums.begin() + 2 * mine_end);
      communicator_->all_gather(local.data(), sums.data(), counts);
    }
    double loss_sum = 0, correct = 0;
    for (std::size_t b = 0; b < total; ++b) {
      loss_sum += sums[2 * b];
      correct += sums[2 * b + 1];
    }
    return {loss_sum / count, correct / count, count};
  }

  /// Class probabilities (N, classes) for every example of `data`, in batches.
  template <typename X>
  Tensor<T> predict(const Dataset<X>& data, std::size_t batch_size) {
    check<ShapeError>(!data.empty(), "predict: the dataset is empty");
    check_item_shape(data.item_shape(), "predict");
    const std::size_t classes = model_.classes();
    Tensor<T> probabilities(Shape{data.size(), classes});
    batch_size = planned_batch(batch_size);
    EpochIterator<X> batches(data, 0, data.size(), batch_size);
    for (std::size_t b = 0, first = 0; b < batches.batches(); ++b) {
      const std::size_t n = batches.gather(b, model_.input_batch(batch_size).data(), labels_.data());
      const auto logits = model_.forward(model_.input_batch(n), Mode::eval);
      model_.output_probabilities(n, logits.data(), probabilities.data() + first * classes);
      first += n;
    }
    return probabilities;
  }

 private:
  void check_item_shape(const Shape& item, const char* who) const {
    check<ShapeError>(item == model_.input_shape(), who, ": the model takes examples of shape ",
                      model_.input_shape(), ", got ", item);
  }

  /// Checks the labels against the model's outputs, or a dataset of targets against its outputs
  /// and its loss.
  template <typename X>
  void check_labels(const Dataset<X>& data, std::size_t first, std::size_t count, const char* who) const {
    const std::size_t classes = model_.classes();
    if (data.has_targets()) {
      check<ShapeError>(data.target_size() == classes, who, ": the examples have ", data.target_size(),
                        " targets each but the model has ", classes, " outputs");
      check<ConfigError>(
          !model_.target_loss().empty(), who,
          ": the dataset has float targets; compile the model with a loss for them: "
          "model.compile(optimizer, MeanSquaredError<T>()) or BinaryCrossEntropyWithLogits<T>()");
      return;
    }
    check<ConfigError>(
        model_.target_loss().empty(), who, ": the model trains on float targets (",
        model_.target_loss().name(),
        ") but the dataset has class labels; give it targets, or set_loss(SoftmaxCrossEntropy<T>())");
    const auto& labels = data.labels();
    for (std::size_t i = first; i < first + count; ++i)
      check<Error>(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < classes, who, ": example ", i,
                   " has label ", labels[i], " but the model has ", classes, " outputs (labels 0 to ",
                   classes - 1, ")");
  }

  /// The target buffer sized for batches of `batch_size` of `data`'s targets.
  template <typename X>
  void target_buffer(const Dataset<X>& data, std::size_t batch_size) {
    const Shape shape{batch_size, data.target_size()};
    if (targets_.shape() != shape) targets_ = Tensor<T>(shape);
  }

  /// The batch size to use (0: the model's planned batch, else 64), with memory planned for it
  /// and the label buffer sized.
  std::size_t planned_batch(std::size_t batch_size) {
    if (batch_size == 0) batch_size = model_.capacity() ? model_.capacity() : 64;
    model_.reserve(batch_size);
    if (labels_.size() < batch_size) labels_ = Tensor<std::int32_t>(Shape{batch_size});
    return batch_size;
  }

  template <typename X>
  History run(const Dataset<X>& train, std::size_t train_count, const Dataset<X>* validation,
              std::size_t validation_first, std::size_t validation_count, const FitOptions& options,
              const std::vector<Callback<T>*>& user_callbacks) {
    (void)model_.input_shape();  // throws unless built
    (void)model_.optimizer();    // throws unless compiled
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
    check<ConfigError>(!options.augmentation.enabled() || train.item_shape().rank() == 3,
                       "fit: augmentation shifts and flips images (C, H, W); the examples are ",
                       train.item_shape());
    check<ConfigError>(options.class_weight.empty() || !train.has_targets(),
                       "fit: class_weight weighs class labels; weigh float targets with sample weights "
                       "(Dataset::set_sample_weights) or BCE's pos_weight");
    check<ConfigError>(options.class_weight.empty() || options.class_weight.size() == model_.classes(),
                       "fit: class_weight has ", options.class_weight.size(), " weights for the model's ",
                       model_.classes(), " classes");
    const std::size_t batch_size = planned_batch(options.batch_size);
    if (train.has_sample_weights() && sample_weights_.size() < batch_size)
      sample_weights_ = Tensor<float>(Shape{batch_size});
    if (train.has_targets()) target_buffer(train, batch_size);
    // The class weights hold for fit's steps; the model's own loss is back afterwards, error or not.
    struct LossGuard {
      Sequential<T>& model;
      const std::vector<double> before;
      ~LossGuard() { model.set_class_weights(before); }
    } restore_loss{model_, model_.loss().class_weights()};
    if (!options.class_weight.empty()) model_.set_class_weights(options.class_weight);

    // Data-parallel training, or a fixed summation order alone (gradient_shards > 1).
    Communicator* communicator = options.communicator;
    const bool fast = communicator && !options.exact;  // one shard per process, MPI_Allreduce
    std::size_t shard_count = options.gradient_shards ? options.gradient_shards
                              : communicator          ? default_gradient_shards
                                                      : 1;
    if (fast) shard_count = static_cast<std::size_t>(communicator->size());
    LocalCommunicator alone;
    std::unique_ptr<BatchShards> shards;
    if (communicator || shard_count > 1)
      shards = std::make_unique<BatchShards>(communicator ? *communicator : alone, shard_count,
                                             fast ? Summation::reduce : Summation::shard_order);
    if (communicator)
      check_same_everywhere(*communicator, train, train_count, validation_count, options, shard_count);
    const bool root = !communicator || communicator->is_root();

    std::vector<Callback<T>*> callbacks = user_callbacks;
    std::unique_ptr<ProgressBar<T>> progress;
    if (options.verbose > 0 && root) {
      progress = std::make_unique<ProgressBar<T>>(
          std::cout, options.verbose == 1 ? ProgressBar<T>::Style::automatic : ProgressBar<T>::Style::lines);
      callbacks.push_back(progress.get());
    }

    EpochIterator<X> batches(train, 0, train_count, batch_size);
    TrainInfo info{options.initial_epoch, options.epochs,  batches.batches(), batch_size,
                   train_count,           validation_count};
    if (communicator) {
      info.rank = communicator->rank();
      info.processes = communicator->size();
    }
    model_.clear_stop_request();
    History history;
    // From here on, an error on one process alone (a callback's write, memory) would leave the
    // others waiting in the next exchange: it ends them all, with its message.
    try {
      for (auto* c : callbacks) c->on_train_begin(model_, info);
      for (std::size_t epoch = options.initial_epoch; epoch < options.epochs && !model_.stop_requested();
           ++epoch)
        history.epochs.push_back(run_epoch(batches, epoch, shards.get(), validation, validation_first,
                                           validation_count, options, callbacks, communicator));
      history.stop_reason = model_.stop_reason();
      for (auto* c : callbacks) c->on_train_end(model_, history);
    } catch (const std::exception& e) {
      model_.set_batch_shards(nullptr);
      communicator_ = nullptr;
      if (communicator && communicator->size() > 1)
        communicator->abort(detail::concat("tinydl: process ", communicator->rank(), " of ",
                                           communicator->size(), ": ", e.what(), "; ending all processes"));
      throw;
    }
    return history;
  }

  /// One epoch: the training batches (this process's part of each when sharded), then validation.
  template <typename X>
  EpochLogs run_epoch(EpochIterator<X>& batches, std::size_t epoch, BatchShards* shards,
                      const Dataset<X>* validation, std::size_t validation_first,
                      std::size_t validation_count, const FitOptions& options,
                      const std::vector<Callback<T>*>& callbacks, Communicator* communicator) {
    const auto start = std::chrono::steady_clock::now();
    for (auto* c : callbacks) c->on_epoch_begin(model_, epoch);
    EpochLogs logs;
    logs.epoch = epoch;
    logs.learning_rate = model_.optimizer().learning_rate();
    if (options.shuffle)
      batches.shuffle(options.seed, epoch);
    else
      batches.in_sequence();

    double loss_sum = 0, correct = 0;
    std::size_t seen = 0;
    const bool weighted = batches.dataset().has_sample_weights();
    model_.set_batch_shards(shards);
    for (std::size_t batch = 0; batch < batches.batches() && !model_.stop_requested(); ++batch) {
      const std::size_t n = batches.batch_examples(batch);
      std::size_t offset = 0, local = n;
      if (shards) {
        shards->set_batch(n);
        offset = shards->offset();
        local = shards->local_batch();
      }
      {
        detail::Observed observed(model_.observer(), StepPart::data);
        batches.gather(batch, offset, local, model_.input_batch(local).data(), labels_.data(),
                       weighted ? sample_weights_.data() : nullptr, targets_.data());
        if (options.augmentation.enabled()) augment(batches, batch, offset, local, options, epoch);
      }
      const TensorView<const float> weights =
          weighted ? TensorView<const float>(sample_weights_.slice(0, local)) : TensorView<const float>();
      const BatchResult result =
          batches.dataset().has_targets()
              ? model_.train_on_batch(model_.input_batch(local),
                                      TensorView<const T>(targets_.slice(0, local)), weights)
              : model_.train_on_batch(model_.input_batch(local), labels_.slice(0, local), weights);
      loss_sum += result.loss * n;
      correct += result.accuracy * n;
      seen += n;
      BatchLogs batch_logs{epoch, batch, n, result.loss, result.accuracy};
      for (auto* c : callbacks) c->on_batch_end(model_, batch_logs);
    }
    model_.set_batch_shards(nullptr);
    logs.loss = loss_sum / seen;
    logs.accuracy = correct / seen;
    logs.has_validation = validation != nullptr;  // val_* stay NaN in an epoch a stop cut short
    if (validation && !model_.stop_requested()) {
      detail::Observed observed(model_.observer(), StepPart::evaluation);
      communicator_ = communicator;
      const Evaluation v = evaluate(*validation, validation_first, validation_count, options.batch_size);
      communicator_ = nullptr;
      logs.val_loss = v.loss;
      logs.val_accuracy = v.accuracy;
    }
    logs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    model_.set_epochs_completed(epoch + 1);
    for (auto* c : callbacks) c->on_epoch_end(model_, logs);
    return logs;
  }

  /// Data-parallel training needs every process to start from the same model, data and options;
  /// a difference would make the exchanges disagree in size or silently train different models.
  /// Each process's fingerprints are gathered and compared, so every process throws the same
  /// `ConfigError` (naming what differs) before the first exchange of a training step.
  template <typename X>
  void check_same_everywhere(Communicator& communicator, const Dataset<X>& train, std::size_t train_count,
                             std::size_t validation_count, const FitOptions& options,
                             std::size_t shard_count) {
    detail::Fingerprint architecture, weights, data, settings;
    for (const auto& [name, p] : model_.named_parameters()) {
      architecture.add(name);
      architecture.add(p.value.shape().to_string());
      weights.add_bytes(p.value.data(), p.value.size() * sizeof(T));
    }
    architecture.add(model_.optimizer().type() + model_.optimizer().config().dump());
    data.add(train.size(), train_count, validation_count);
    data.add(train.item_shape().to_string());
    data.add_bytes(train.labels().data(), train.labels().size() * sizeof(train.labels()[0]));
    data.add_bytes(train.sample_weights().data(), train.sample_weights().size() * sizeof(float));
    data.add_bytes(train.targets().data(), train.targets().size() * sizeof(float));
    settings.add(options.epochs, options.batch_size, options.shuffle, options.seed, options.initial_epoch,
                 shard_count, options.exact, model_.epochs_completed());
    settings.add_bytes(options.class_weight.data(), options.class_weight.size() * sizeof(double));
    const detail::Fingerprint* parts[] = {&architecture, &weights, &data, &settings};
    const char* what[] = {"model architecture or optimizer", "initial weights (build seed, loaded file)",
                          "training data (size, labels or targets, sample weights, validation split)",
                          "fit options (epochs, batch_size, seed, shards, class_weight, ...)"};
    std::vector<double> mine;
    for (const auto* part : parts) {  // 64-bit hashes as two exact 32-bit halves
      mine.push_back(static_cast<double>(part->hash >> 32));
      mine.push_back(static_cast<double>(part->hash & 0xFFFFFFFFu));
    }
    const auto processes = static_cast<std::size_t>(communicator.size());
    std::vector<double> all(processes * mine.size());
    communicator.all_gather(mine.data(), all.data(), std::vector<std::size_t>(processes, mine.size()));
    for (std::size_t r = 1; r < processes; ++r)
      for (std::size_t k = 0; k < 4; ++k)
        check<ConfigError>(all[r * 8 + 2 * k] == all[2 * k] && all[r * 8 + 2 * k + 1] == all[2 * k + 1],
                           "data-parallel fit: process ", r, " has other ", what[k],
                           " than process 0; every ",
                           "process must build, load and fit the same model on the same data");
  }

  /// Applies the options' augmentation to examples [offset, offset + count) of batch `batch`,
  /// just gathered into the model's input; each example's draws are its own, on any thread.
  template <typename X>
  void augment(const EpochIterator<X>& batches, std::size_t batch, std::size_t offset, std::size_t count,
               const FitOptions& options, std::size_t epoch) {
    const Shape& item = model_.input_shape();
    const std::size_t size = item.numel();
    augment_scratch_.reserve(size);
    T* x = model_.input_batch(count).data();
    const CounterRng rng(options.seed);
    parallel_for(count, [&](std::size_t i, int thread) {
      options.augmentation.apply(x + i * size, item[0], item[1], item[2], rng, epoch,
                                 batches.example_index(batch, offset + i), augment_scratch_.get(thread));
    });
  }

  Sequential<T>& model_;
  ThreadScratch<T> augment_scratch_;      // one image per thread for augment
  Tensor<std::int32_t> labels_;           // the labels of the current batch
  Tensor<float> sample_weights_;          // its sample weights, if the training data has them
  Tensor<T> targets_;                     // its float targets (batch, K), for a dataset of targets
  Communicator* communicator_ = nullptr;  // while validating in data-parallel fit
};

}  // namespace tinydl
