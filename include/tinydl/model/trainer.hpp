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

#include "tinydl/core/error.hpp"
#include "tinydl/core/tensor.hpp"
#include "tinydl/data/dataset.hpp"
#include "tinydl/kernels/softmax.hpp"
#include "tinydl/layers/layer.hpp"
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
};

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

/// The fraction of rows of `logits` (N, classes) whose largest entry is at the row's label.
template <typename T, typename Label>
double batch_accuracy(TensorView<const T> logits, TensorView<Label> labels) {
  const std::size_t n = logits.shape()[0], classes = logits.shape()[1];
  std::size_t correct = 0;
  for (std::size_t b = 0; b < n; ++b) {
    const T* row = logits.data() + b * classes;
    const std::size_t best = static_cast<std::size_t>(std::max_element(row, row + classes) - row);
    correct += best == static_cast<std::size_t>(labels[b]);
  }
  return static_cast<double>(correct) / static_cast<double>(n);
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
  /// `batch_size` 0 means the model's planned batch.
  template <typename X>
  Evaluation evaluate(const Dataset<X>& data, std::size_t first, std::size_t count, std::size_t batch_size) {
    check<ShapeError>(count > 0, "evaluate: the dataset is empty");
    check_item_shape(data.item_shape(), "evaluate");
    check_labels(data, first, count, "evaluate");
    EpochIterator<X> batches(data, first, count, planned_batch(batch_size));
    double loss_sum = 0, correct = 0;
    for (std::size_t b = 0; b < batches.batches(); ++b) {
      const std::size_t n = batches.gather(b, model_.input_batch(batch_size).data(), labels_.data());
      const auto labels = labels_.slice(0, n);
      const auto logits = model_.forward(model_.input_batch(n), Mode::eval);
      loss_sum += static_cast<double>(model_.loss()(logits, labels)) * n;
      correct += detail::batch_accuracy(logits, labels) * n;
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
    EpochIterator<X> batches(data, 0, data.size(), planned_batch(batch_size));
    for (std::size_t b = 0, first = 0; b < batches.batches(); ++b) {
      const std::size_t n = batches.gather(b, model_.input_batch(batch_size).data(), labels_.data());
      const auto logits = model_.forward(model_.input_batch(n), Mode::eval);
      kernels::softmax_rows(n, classes, logits.data(), probabilities.data() + first * classes);
      first += n;
    }
    return probabilities;
  }

 private:
  void check_item_shape(const Shape& item, const char* who) const {
    check<ShapeError>(item == model_.input_shape(), who, ": the model takes examples of shape ",
                      model_.input_shape(), ", got ", item);
  }

  template <typename X>
  void check_labels(const Dataset<X>& data, std::size_t first, std::size_t count, const char* who) const {
    const auto& labels = data.labels();
    const std::size_t classes = model_.classes();
    for (std::size_t i = first; i < first + count; ++i)
      check<Error>(labels[i] >= 0 && static_cast<std::size_t>(labels[i]) < classes, who, ": example ", i,
                   " has label ", labels[i], " but the model has ", classes, " outputs (labels 0 to ",
                   classes - 1, ")");
  }

  /// The batch size to use (0: the model's planned batch, else 64), with memory planned for it
  /// and the label buffer sized.
  std::size_t planned_batch(std::size_t& batch_size) {
    if (batch_size == 0) batch_size = model_.capacity() ? model_.capacity() : 64;
    model_.reserve(batch_size);
    if (labels_.size() < batch_size) labels_ = Tensor<std::int32_t>(Shape{batch_size});
    return batch_size;
  }

  template <typename X>
  History run(const Dataset<X>& train, std::size_t train_count, const Dataset<X>* validation,
              std::size_t validation_first, std::size_t validation_count, const FitOptions& options,
              const std::vector<Callback<T>*>& user_callbacks) {
    (void)model_.input_shape();                    // throws unless built
    Optimizer<T>& optimizer = model_.optimizer();  // throws unless compiled
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
    std::size_t batch_size = options.batch_size;
    planned_batch(batch_size);

    std::vector<Callback<T>*> callbacks = user_callbacks;
    std::unique_ptr<ProgressBar<T>> progress;
    if (options.verbose > 0) {
      progress = std::make_unique<ProgressBar<T>>(
          std::cout, options.verbose == 1 ? ProgressBar<T>::Style::automatic : ProgressBar<T>::Style::lines);
      callbacks.push_back(progress.get());
    }

    EpochIterator<X> batches(train, 0, train_count, batch_size);
    TrainInfo info{options.initial_epoch, options.epochs,  batches.batches(), batch_size,
                   train_count,           validation_count};
    model_.clear_stop_request();
    History history;
    for (auto* c : callbacks) c->on_train_begin(model_, info);

    for (std::size_t epoch = options.initial_epoch; epoch < options.epochs && !model_.stop_requested();
         ++epoch) {
      const auto start = std::chrono::steady_clock::now();
      for (auto* c : callbacks) c->on_epoch_begin(model_, epoch);
      EpochLogs logs;
      logs.epoch = epoch;
      logs.learning_rate = optimizer.learning_rate();
      if (options.shuffle)
        batches.shuffle(options.seed, epoch);
      else
        batches.in_sequence();

      double loss_sum = 0, correct = 0;
      std::size_t seen = 0;
      for (std::size_t batch = 0; batch < batches.batches() && !model_.stop_requested(); ++batch) {
        std::size_t n = 0;
        {
          detail::Observed observed(model_.observer(), StepPart::data);
          n = batches.gather(batch, model_.input_batch(batch_size).data(), labels_.data());
        }
        const BatchResult result = model_.train_on_batch(model_.input_batch(n), labels_.slice(0, n));
        loss_sum += result.loss * n;
        correct += result.accuracy * n;
        seen += n;
        BatchLogs batch_logs{epoch, batch, n, result.loss, result.accuracy};
        for (auto* c : callbacks) c->on_batch_end(model_, batch_logs);
      }
      logs.loss = loss_sum / seen;
      logs.accuracy = correct / seen;
      logs.has_validation = validation != nullptr;  // val_* stay NaN in an epoch a stop cut short
      if (validation && !model_.stop_requested()) {
        detail::Observed observed(model_.observer(), StepPart::evaluation);
        const Evaluation v = evaluate(*validation, validation_first, validation_count, batch_size);
        logs.val_loss = v.loss;
        logs.val_accuracy = v.accuracy;
      }
      logs.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      history.epochs.push_back(logs);
      model_.set_epochs_completed(epoch + 1);
      for (auto* c : callbacks) c->on_epoch_end(model_, logs);
    }
    history.stop_reason = model_.stop_reason();
    for (auto* c : callbacks) c->on_train_end(model_, history);
    return history;
  }

  Sequential<T>& model_;
  Tensor<std::int32_t> labels_;  // the labels of the current batch
};

}  // namespace tinydl
