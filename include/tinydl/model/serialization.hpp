#pragma once
/// @file serialization.hpp
/// Saving and loading `Sequential` models: `save_model`, `load_weights`, the training state, and
/// `load_model`, which rebuilds a model from its file. The model's members of the same names
/// (`model.save(path)`, ...) call these; they know the model only through its public interface.
/// The file is safetensors (docs/file-format.md):
///
///   tensors    "<layer index>.<parameter>" as in torch.nn.Sequential's state_dict, PyTorch layouts,
///              F32 (float models) or F64 (double); counters (num_batches_tracked) as I64 scalars
///   metadata   "format": "pt", "tinydl.version", "tinydl.dtype",
///              "tinydl.model": {"input_shape": [...], "layers": [{"type", "name", "config"}, ...]}
///
/// A training state adds "optimizer.<slot>.<k>" tensors (slot k of the k-th trainable parameter)
/// and "tinydl.training": {"optimizer", "optimizer_config", "iterations", "epochs_completed",
/// "dropout_steps"}; "dropout_steps" holds every layer's `counters()` in layer order (today only
/// Dropout has one, its step; the name is the one files have always had).

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/io/safetensors.hpp"
#include "tinydl/layers/make_layer.hpp"
#include "tinydl/version.hpp"

namespace tinydl {

template <typename T>
class Sequential;

namespace detail {

/// The architecture as saved in files: input shape and each layer's type, name and config.
template <typename T>
nlohmann::json architecture(const Sequential<T>& model) {
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t i = 0; i < model.size(); ++i) {
    const Layer<T>& layer = model.layer(i);
    layers.push_back({{"type", layer.type()}, {"name", layer.name()}, {"config", layer.config()}});
  }
  nlohmann::json input = nlohmann::json::array();
  for (std::size_t i = 0; i < model.input_shape().rank(); ++i) input.push_back(model.input_shape()[i]);
  return {{"input_shape", input}, {"layers", layers}};
}

/// Adds the model's parameters and architecture to a writer.
template <typename T>
void write_model(const Sequential<T>& model, io::SafetensorsWriter& writer) {
  for (const auto& [key, p] : model.named_parameters()) {
    if (p.integer) {
      // Counters are stored as I64; a one-element counter is a scalar, as PyTorch writes it.
      std::vector<std::int64_t> values(p.value.begin(), p.value.end());
      std::vector<std::uint64_t> shape;
      if (p.value.size() != 1)
        for (std::size_t i = 0; i < p.value.rank(); ++i) shape.push_back(p.value.shape()[i]);
      writer.add_raw(key, io::Dtype::I64, shape, values.data(), values.size() * sizeof(std::int64_t));
    } else {
      writer.add(key, TensorView<const T>(p.value));
    }
  }
  writer.set_metadata("format", "pt");
  writer.set_metadata("tinydl.version", version_string);
  writer.set_metadata("tinydl.dtype", io::dtype_name(io::dtype_of<T>()));
  writer.set_metadata("tinydl.model", architecture(model).dump());
}

inline bool is_integer_dtype(io::Dtype d) {
  return d == io::Dtype::I64 || d == io::Dtype::I32 || d == io::Dtype::U8;
}

/// Lists up to five names, then "and N more".
inline std::string name_list(const std::vector<std::string>& names) {
  std::string text;
  for (std::size_t i = 0; i < names.size() && i < 5; ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > 5) text += " and " + std::to_string(names.size() - 5) + " more";
  return text;
}

/// Checks that `file` holds exactly the tensors `expected` (key -> parameter) under `prefix`, with
/// fitting shapes and dtypes. Throws `IoError` naming the file and the offending tensors.
/// Names starting with `ignored` (when not empty) are skipped: a training state's optimizer tensors.
template <typename T>
void check_tensors_fit(const io::SafetensorsFile& file, const std::string& prefix,
                       const std::vector<std::pair<std::string, Param<T>>>& expected,
                       const std::string& ignored = "") {
  std::set<std::string> wanted;
  std::vector<std::string> missing, unexpected;
  for (const auto& [key, p] : expected) {
    wanted.insert(prefix + key);
    if (!file.contains(prefix + key)) missing.push_back(prefix + key);
  }
  for (const auto& name : file.names())
    if (name.compare(0, prefix.size(), prefix) == 0 && !wanted.count(name) &&
        (ignored.empty() || name.compare(0, ignored.size(), ignored) != 0))
      unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty())
    throw IoError(file.source() + ": does not fit the model:" +
                  (missing.empty() ? "" : " missing tensors " + name_list(missing) + ";") +
                  (unexpected.empty() ? "" : " unexpected tensors " + name_list(unexpected) + ";") +
                  " (is it the same architecture?)");
  for (const auto& [key, p] : expected) {
    const io::TensorInfo& info = file.info(prefix + key);
    const bool floating = info.dtype == io::Dtype::F32 || info.dtype == io::Dtype::F64;
    check<IoError>(p.integer ? is_integer_dtype(info.dtype) : floating, file.source(), ": tensor '",
                   prefix + key, "' has dtype ", io::dtype_name(info.dtype), ", expected ",
                   p.integer ? "an integer dtype" : "F32 or F64");
    const bool scalar_fits = p.value.size() == 1 && info.numel() == 1 && info.shape.size() <= 1;
    const bool shape_fits =
        scalar_fits || (info.shape.size() <= Shape::max_rank && info.to_shape() == p.value.shape());
    if (!shape_fits)  // the message is built only on failure
      throw IoError(tinydl::detail::concat(file.source(), ": tensor '", prefix, key, "' has shape ",
                                           info.shape_string(), ", the model's parameter is ",
                                           p.value.shape()));
  }
}

/// The most values one example may have in any layer's output of a loaded model (2^28: 1 GiB of
/// float per example); the study's largest is 32 x 28 x 28 = 25,088.
constexpr std::uint64_t max_activation_values = std::uint64_t{1} << 28;

/// Checks, without building anything, that the architecture declared in a model file is no
/// larger than the tensors the file holds: a 26 KB file declaring Dense(units=2^20) must not make
/// tinydl allocate gigabytes (or abort on bad_alloc) before the tensors are compared. Walks the
/// shapes with `output_shape` and sums `parameter_count`; throws `IoError` naming the file.
template <typename T>
void check_architecture_fits_file(const io::SafetensorsFile& file,
                                  const std::vector<std::unique_ptr<Layer<T>>>& layers, const Shape& input) {
  std::uint64_t held = 0;
  for (const auto& name : file.names()) held += file.info(name).numel();
  std::uint64_t needed = 0;
  Shape shape = prepend_batch(1, input);
  check<IoError>(shape.item_numel() <= max_activation_values, file.source(), ": input_shape ", input,
                 " has more than ", max_activation_values, " values per example");
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const std::uint64_t count = layers[i]->parameter_count(shape);
    needed = count > std::numeric_limits<std::uint64_t>::max() - needed
                 ? std::numeric_limits<std::uint64_t>::max()
                 : needed + count;
    if (needed > held)
      throw IoError(tinydl::detail::concat(file.source(), ": the architecture needs ", needed,
                                           " parameter values up to layer ", i, " (", layers[i]->type(),
                                           "), but the file holds only ", held, " (is the file corrupt?)"));
    const Shape in = shape;
    shape = layers[i]->output_shape(shape);
    const std::uint64_t inner = layers[i]->inner_activation_values(in);
    if (std::max<std::uint64_t>(shape.item_numel(), inner) > max_activation_values)
      throw IoError(
          tinydl::detail::concat(file.source(), ": layer ", i, " (", layers[i]->type(), ") outputs or holds ",
                                 std::max<std::uint64_t>(shape.item_numel(), inner),
                                 " values per example, more than the limit of ", max_activation_values));
  }
}

/// Copies the checked tensors of `file` into the model's parameters.
template <typename T>
void copy_parameters(const io::SafetensorsFile& file, const std::string& prefix,
                     const std::vector<std::pair<std::string, Param<T>>>& named) {
  for (const auto& [key, p] : named) {
    const Tensor<T> values = file.read_as<T>(prefix + key);
    std::copy(values.begin(), values.end(), p.value.begin());
  }
}

}  // namespace detail

/// Saves weights and state as safetensors with `torch.nn.Sequential` keys ("0.weight") and
/// PyTorch layouts, and the architecture in `__metadata__` (for `load_model`). Atomic.
template <typename T>
void save_model(const Sequential<T>& model, const std::string& path) {
  io::SafetensorsWriter writer;
  detail::write_model(model, writer);
  writer.write(path);
}

/// Loads weights saved by `save_model` (or by PyTorch for the same architecture) into a built
/// model. Every tensor must be present with its shape and a fitting dtype, and no other tensor
/// may be in the file; otherwise `IoError`, and the model is unchanged.
template <typename T>
void load_weights(Sequential<T>& model, const std::string& path) {
  load_weights(model, io::SafetensorsFile::load(path));
}

/// `load_weights` from an open file, reading the tensors named `prefix` + key.
template <typename T>
void load_weights(Sequential<T>& model, const io::SafetensorsFile& file, const std::string& prefix = "") {
  detail::check_tensors_fit(file, prefix,
                            model.named_parameters());  // all checks first: a bad file changes nothing
  detail::copy_parameters(file, prefix, model.named_parameters());
}

/// Saves weights plus what resuming needs: optimizer state, epochs completed, layer counters.
template <typename T>
void save_training_state(const Sequential<T>& model, const std::string& path) {
  check<ConfigError>(model.compiled(), "save_training_state: the model has no optimizer; compile() it first");
  io::SafetensorsWriter writer;
  detail::write_model(model, writer);
  const Optimizer<T>& opt = model.optimizer();
  for (std::size_t s = 0; s < opt.slot_names().size(); ++s)
    for (std::size_t k = 0; k < opt.slot_count(); ++k)
      writer.add("optimizer." + opt.slot_names()[s] + "." + std::to_string(k), opt.slot(s, k));
  const nlohmann::json training{{"optimizer", opt.type()},
                                {"optimizer_config", opt.config()},
                                {"iterations", opt.iterations()},
                                {"epochs_completed", model.epochs_completed()},
                                {"dropout_steps", model.counters()}};
  writer.set_metadata("tinydl.training", training.dump());
  writer.write(path);
}

/// Restores a `save_training_state` file into a built and compiled model (same architecture and
/// optimizer type); a file that does not fit throws `IoError` and changes nothing. Resume with
/// `fit(..., {.initial_epoch = model.epochs_completed()})`.
template <typename T>
void load_training_state(Sequential<T>& model, const std::string& path) {
  const auto file = io::SafetensorsFile::load(path);
  Optimizer<T>& opt = model.optimizer();
  const auto found = file.metadata().find("tinydl.training");
  check<IoError>(found != file.metadata().end(), path, ": no training state (tinydl.training metadata); ",
                 "was it written by save_training_state?");
  const nlohmann::json training = nlohmann::json::parse(found->second, nullptr, false);
  check<IoError>(training.is_object() && training.contains("optimizer") && training.contains("iterations") &&
                     training.contains("epochs_completed") && training.contains("dropout_steps"),
                 path, ": malformed tinydl.training metadata");
  check<IoError>(training["optimizer"] == opt.type(), path, ": saved with optimizer ",
                 training["optimizer"].dump(), ", the model is compiled with ", opt.type());

  // Every check before any change.
  std::size_t trainable = 0;
  for (const auto& p : model.parameters()) trainable += p.trainable();
  std::vector<std::string> slot_keys;
  for (std::size_t s = 0; s < opt.slot_names().size(); ++s)
    for (std::size_t k = 0; k < trainable; ++k)
      slot_keys.push_back("optimizer." + opt.slot_names()[s] + "." + std::to_string(k));
  std::vector<std::uint64_t> steps;
  std::uint64_t iterations = 0;
  std::size_t epochs_completed = 0;
  try {
    steps = training["dropout_steps"].get<std::vector<std::uint64_t>>();
    iterations = training["iterations"].get<std::uint64_t>();
    epochs_completed = training["epochs_completed"].get<std::size_t>();
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path + ": malformed tinydl.training metadata: " + e.what());
  }
  // A state saved after compile() but before the first step has no optimizer tensors yet (the
  // optimizer creates them on its first step): it loads as a fresh optimizer.
  const bool has_slots = std::any_of(slot_keys.begin(), slot_keys.end(),
                                     [&](const std::string& key) { return file.contains(key); });
  if (has_slots || iterations > 0)
    for (const auto& key : slot_keys)
      check<IoError>(file.contains(key), path, ": missing optimizer state '", key, "'");
  detail::check_tensors_fit(file, "", model.named_parameters(), "optimizer.");
  std::size_t k = 0;
  for (const auto& p : model.parameters()) {
    if (!p.trainable() || !has_slots) continue;
    for (std::size_t s = 0; s < opt.slot_names().size(); ++s) {
      const std::string& key = slot_keys[s * trainable + k];
      const io::TensorInfo& info = file.info(key);
      if (info.shape.size() > Shape::max_rank || info.to_shape() != p.value.shape())
        throw IoError(tinydl::detail::concat(path, ": optimizer state '", key, "' has shape ",
                                             info.shape_string(), ", its parameter is ", p.value.shape()));
      // The dtype too, before anything changes: an F16 slot used to fail only after the weights
      // were copied and the optimizer reset.
      if (info.dtype != io::Dtype::F32 && info.dtype != io::Dtype::F64)
        throw IoError(tinydl::detail::concat(path, ": optimizer state '", key, "' has dtype ",
                                             io::dtype_name(info.dtype), ", expected F32 or F64"));
    }
    ++k;
  }
  const std::size_t counters = model.counters().size();
  check<IoError>(steps.size() == counters, path, ": ", steps.size(), " dropout steps (layer counters) for ",
                 counters, " in the model");

  detail::copy_parameters(file, "", model.named_parameters());
  opt.initialize_state(model.parameters());
  if (has_slots)
    for (std::size_t s = 0; s < opt.slot_names().size(); ++s)
      for (std::size_t index = 0; index < trainable; ++index)
        file.read_into(slot_keys[s * trainable + index], opt.slot(s, index).view());
  opt.set_iterations(iterations);
  model.set_epochs_completed(epochs_completed);
  model.set_counters(steps);
}

/// Rebuilds a model, architecture and weights, from a file written by `save_model`.
/// Throws `IoError` if the file is not such a file.
template <typename T>
Sequential<T> load_model(const std::string& path) {
  const auto file = io::SafetensorsFile::load(path);
  const auto found = file.metadata().find("tinydl.model");
  check<IoError>(found != file.metadata().end(), path,
                 ": no architecture (tinydl.model metadata); build the model in code and use load_weights()");
  const nlohmann::json model_json = nlohmann::json::parse(found->second, nullptr, false);
  check<IoError>(model_json.is_object() && model_json.contains("input_shape") &&
                     model_json.contains("layers") && model_json["layers"].is_array() &&
                     model_json["input_shape"].is_array(),
                 path, ": malformed tinydl.model metadata");
  Sequential<T> model;
  try {
    std::vector<std::unique_ptr<Layer<T>>> layers;
    for (const auto& layer : model_json["layers"]) {
      auto made =
          make_layer<T>(layer.at("type").get<std::string>(), layer.value("config", nlohmann::json::object()));
      if (layer.contains("name")) made->set_name(layer["name"].get<std::string>());
      layers.push_back(std::move(made));
    }
    const auto dims = model_json["input_shape"].get<std::vector<std::size_t>>();
    check<IoError>(dims.size() >= 1 && dims.size() <= 3, path, ": input_shape must have 1 to 3 dimensions");
    const Shape input = dims.size() == 1   ? Shape{dims[0]}
                        : dims.size() == 2 ? Shape{dims[0], dims[1]}
                                           : Shape{dims[0], dims[1], dims[2]};
    detail::check_architecture_fits_file(file, layers, input);  // before anything is allocated
    for (auto& layer : layers) model.add(std::move(layer));
    model.build(input);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(path + ": malformed tinydl.model metadata: " + e.what());
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    throw IoError(path + ": cannot rebuild the model: " + e.what());
  }
  load_weights(model, file);
  return model;
}

}  // namespace tinydl
