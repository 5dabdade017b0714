#pragma once
/// @file make_layer.hpp
/// `make_layer`: a layer from its type name and config, the inverse of `Layer::type()` and
/// `Layer::config()`. This is how a saved model is rebuilt from its file alone. Types beyond the
/// built-in ones come from the registry (layer_registry.hpp: `register_layer`).

#include <memory>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "tinydl/layers/activations.hpp"
#include "tinydl/layers/avgpool2d.hpp"
#include "tinydl/layers/batchnorm.hpp"
#include "tinydl/layers/conv2d.hpp"
#include "tinydl/layers/dense.hpp"
#include "tinydl/layers/dropout.hpp"
#include "tinydl/layers/flatten.hpp"
#include "tinydl/layers/layer_registry.hpp"
#include "tinydl/layers/maxpool2d.hpp"
#include "tinydl/layers/residual.hpp"
#include "tinydl/layers/softmax.hpp"

namespace tinydl {

namespace detail {

/// Typed, checked access to one layer config: every error names the layer type and the key, and
/// keys the layer does not know are rejected (a typo must not silently become a default).
class LayerConfig {
 public:
  LayerConfig(std::string type, const nlohmann::json& config, std::set<std::string> known)
      : type_(std::move(type)), config_(config) {
    check<ConfigError>(config.is_object() || config.is_null(), type_, ": config must be a JSON object, got ",
                       config.dump());
    if (config.is_object())
      for (const auto& item : config.items())
        check<ConfigError>(known.count(item.key()) != 0, type_, ": unknown config key '", item.key(), "'");
  }

  /// The value of `key`, or `fallback` when absent. Throws `ConfigError` on a wrong JSON type.
  template <typename V>
  V get(const std::string& key, V fallback) const {
    if (!config_.is_object() || !config_.contains(key)) return fallback;
    try {
      return config_.at(key).get<V>();
    } catch (const nlohmann::json::exception&) {
      throw ConfigError(
          detail::concat(type_, ": config key '", key, "' has the wrong type: ", config_.at(key).dump()));
    }
  }

  /// The raw JSON of `key`; throws `ConfigError` when it is missing.
  const nlohmann::json& required(const std::string& key) const {
    check<ConfigError>(config_.is_object() && config_.contains(key), type_, ": config key '", key,
                       "' is missing");
    return config_.at(key);
  }

  std::size_t required_count(const std::string& key) const {
    const nlohmann::json& j = required(key);
    check<ConfigError>(is_json_count(j), type_, ": config key '", key,
                       "' must be a non-negative integer, got ", j.dump());
    return j.get<std::size_t>();
  }

  const nlohmann::json* find(const std::string& key) const {
    return config_.is_object() && config_.contains(key) ? &config_.at(key) : nullptr;
  }

 private:
  std::string type_;
  const nlohmann::json& config_;
};

}  // namespace detail

template <typename T>
std::unique_ptr<Layer<T>> make_layer(const std::string& type, const nlohmann::json& config);

namespace detail {

/// How deep `Residual` blocks may nest in a config: a file cannot make loading recurse without end.
inline constexpr std::size_t max_block_nesting = 32;

/// make_layer for `Residual`: each entry of "body" and "shortcut" is {"type", "config"}.
template <typename T>
std::unique_ptr<Layer<T>> make_residual(const nlohmann::json& config, std::size_t depth) {
  const LayerConfig c("Residual", config, {"body", "shortcut"});
  check<ConfigError>(depth < max_block_nesting, "Residual: blocks nest more than ", max_block_nesting,
                     " deep");
  auto block = std::make_unique<Residual<T>>();
  for (const char* part : {"body", "shortcut"}) {
    const nlohmann::json* layers = c.find(part);
    if (!layers && std::string(part) == "shortcut") continue;
    check<ConfigError>(layers && layers->is_array(), "Residual: config key '", part,
                       "' must be an array of {\"type\", \"config\"}");
    for (const nlohmann::json& entry : *layers) {
      check<ConfigError>(entry.is_object() && entry.contains("type") && entry.at("type").is_string(),
                         "Residual: each layer of '", part, "' needs a \"type\" string, got ", entry.dump());
      for (const auto& item : entry.items())
        check<ConfigError>(item.key() == "type" || item.key() == "config", "Residual: unknown key '",
                           item.key(), "' in a layer of '", part, "'");
      const std::string type = entry.at("type").get<std::string>();
      const nlohmann::json inner = entry.contains("config") ? entry.at("config") : nlohmann::json::object();
      std::unique_ptr<Layer<T>> layer =
          type == "Residual" ? make_residual<T>(inner, depth + 1) : make_layer<T>(type, inner);
      if (std::string(part) == "body")
        block->add(std::move(layer));
      else
        block->add_shortcut(std::move(layer));
    }
  }
  check<ConfigError>(block->body_size() > 0, "Residual: config key 'body' holds no layers");
  return block;
}

}  // namespace detail

/// The layer of type `type` ("Dense", "Conv2D", ..., or a registered user type) with options from
/// `config` (as written by `Layer::config()`). Throws `ConfigError` for an unknown type, a
/// missing or mistyped option, an unknown key, or a registered factory whose layer is not of
/// `type` (it would not load back as itself).
template <typename T>
std::unique_ptr<Layer<T>> make_layer(const std::string& type, const nlohmann::json& config) {
  using detail::LayerConfig;
  if (type == "Residual") return detail::make_residual<T>(config, 0);
  if (type == "Dense") {
    const LayerConfig c(type, config, {"units", "use_bias", "init"});
    return std::make_unique<Dense<T>>(c.required_count("units"), c.get("use_bias", true),
                                      initializer_from_name(c.get<std::string>("init", "he_normal")));
  }
  if (type == "Conv2D") {
    const LayerConfig c(type, config, {"filters", "kernel_size", "stride", "padding", "use_bias", "init"});
    const auto* stride = c.find("stride");
    const auto* padding = c.find("padding");
    return std::make_unique<Conv2D<T>>(
        c.required_count("filters"), Size2d::from_json(c.required("kernel_size"), "Conv2D kernel_size"),
        stride ? Size2d::from_json(*stride, "Conv2D stride") : Size2d(1),
        padding ? Padding::from_json(*padding) : Padding::valid(), c.get("use_bias", true),
        initializer_from_name(c.get<std::string>("init", "he_normal")));
  }
  if (type == "MaxPool2D") {
    const LayerConfig c(type, config, {"pool_size", "stride", "padding"});
    const auto* stride = c.find("stride");
    const auto* padding = c.find("padding");
    return std::make_unique<MaxPool2D<T>>(
        Size2d::from_json(c.required("pool_size"), "MaxPool2D pool_size"),
        stride ? Size2d::from_json(*stride, "MaxPool2D stride") : Size2d(0),
        padding ? Size2d::from_json(*padding, "MaxPool2D padding") : Size2d(0));
  }
  if (type == "AveragePooling2D") {
    const LayerConfig c(type, config, {"pool_size", "stride", "padding", "count_include_pad"});
    const auto* stride = c.find("stride");
    const auto* padding = c.find("padding");
    return std::make_unique<AveragePooling2D<T>>(
        Size2d::from_json(c.required("pool_size"), "AveragePooling2D pool_size"),
        stride ? Size2d::from_json(*stride, "AveragePooling2D stride") : Size2d(0),
        padding ? Size2d::from_json(*padding, "AveragePooling2D padding") : Size2d(0),
        c.get("count_include_pad", true));
  }
  if (type == "GlobalAveragePooling2D") {
    const LayerConfig c(type, config, {"keep_dims"});
    return std::make_unique<GlobalAveragePooling2D<T>>(c.get("keep_dims", false));
  }
  if (type == "BatchNorm") {
    const LayerConfig c(type, config, {"momentum", "eps"});
    return std::make_unique<BatchNorm<T>>(c.get("momentum", 0.1), c.get("eps", 1e-5));
  }
  if (type == "Dropout") {
    const LayerConfig c(type, config, {"rate"});
    check<ConfigError>(c.required("rate").is_number(), "Dropout: config key 'rate' must be a number");
    return std::make_unique<Dropout<T>>(c.required("rate").get<double>());
  }
  if (type == "LeakyReLU") {
    const LayerConfig c(type, config, {"negative_slope"});
    return std::make_unique<LeakyReLU<T>>(c.get("negative_slope", 0.01));
  }
  std::unique_ptr<Layer<T>> plain;  // layers without options
  if (type == "Flatten") plain = std::make_unique<Flatten<T>>();
  if (type == "ReLU") plain = std::make_unique<ReLU<T>>();
  if (type == "Sigmoid") plain = std::make_unique<Sigmoid<T>>();
  if (type == "Tanh") plain = std::make_unique<Tanh<T>>();
  if (type == "Softmax") plain = std::make_unique<Softmax<T>>();
  if (plain) {
    const LayerConfig no_options(type, config, {});
    return plain;
  }
  if (const LayerFactory<T> factory = registered_layer<T>(type)) {
    std::unique_ptr<Layer<T>> layer = factory(config);
    check<ConfigError>(layer != nullptr, "the factory registered for layer type '", type,
                       "' returned no layer");
    check<ConfigError>(layer->type() == type, "the factory registered for layer type '", type,
                       "' made a layer of type '", layer->type(), "'");
    return layer;
  }
  std::string known;
  for (const std::string& name : builtin_layer_types()) known += (known.empty() ? "" : ", ") + name;
  for (const std::string& name : registered_layer_types<T>()) known += ", " + name;
  throw ConfigError("unknown layer type '" + type + "' (known: " + known +
                    "; a layer of your own loads once registered: register_layer)");
}

}  // namespace tinydl
