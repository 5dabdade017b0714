#pragma once
/// @file layer_registry.hpp
/// User-defined layer types that `make_layer`, and so `load_model`, can rebuild from a file:
///
///     tinydl::register_layer<Scale>("Scale");          // Scale(const nlohmann::json& config)
///     tinydl::register_layer<float>("Scale", [](const nlohmann::json& config) { ... });
///
/// A saved model names each layer's `type()` and writes its `config()`; loading it calls the
/// factory registered under that type with that config. Registration is per scalar type and
/// thread-safe; a name can be registered once, and never as a built-in type's name.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "tinydl/core/error.hpp"
#include "tinydl/layers/layer.hpp"

namespace tinydl {

/// Builds a layer from its config (what its `config()` wrote).
template <typename T>
using LayerFactory = std::function<std::unique_ptr<Layer<T>>(const nlohmann::json& config)>;

/// The layer types built into `make_layer`.
inline const std::vector<std::string>& builtin_layer_types() {
  static const std::vector<std::string> types{
      "Dense",     "Conv2D",    "MaxPool2D", "AveragePooling2D", "GlobalAveragePooling2D",
      "Residual",  "BatchNorm", "Dropout",   "Flatten",          "ReLU",
      "LeakyReLU", "Sigmoid",   "Tanh",      "Softmax"};
  return types;
}

namespace detail {

/// The registered factories for scalar type T, behind one lock.
template <typename T>
struct LayerRegistry {
  std::mutex mutex;
  std::map<std::string, LayerFactory<T>> factories;

  static LayerRegistry& instance() {
    static LayerRegistry registry;
    return registry;
  }
};

template <typename T>
T layer_scalar(const Layer<T>*);

}  // namespace detail

/// Registers `factory` for layers of type `type` (the layer's `type()`). Throws `ConfigError` for
/// an empty name, a built-in type's name, a name already registered, or an empty factory.
template <typename T>
void register_layer(const std::string& type, LayerFactory<T> factory) {
  check<ConfigError>(!type.empty(), "register_layer: empty type name");
  check<ConfigError>(static_cast<bool>(factory), "register_layer: no factory for '", type, "'");
  for (const std::string& builtin : builtin_layer_types())
    check<ConfigError>(type != builtin, "register_layer: '", type, "' is a built-in layer type");
  auto& registry = detail::LayerRegistry<T>::instance();
  const std::lock_guard<std::mutex> lock(registry.mutex);
  check<ConfigError>(registry.factories.count(type) == 0, "register_layer: '", type,
                     "' is registered already");
  registry.factories.emplace(type, std::move(factory));
}

/// Registers layer class `L` (derived from Layer<T>) under `type`, built by its constructor from
/// a config: `explicit L(const nlohmann::json& config)`.
template <typename L>
void register_layer(const std::string& type) {
  using T = decltype(detail::layer_scalar(static_cast<const L*>(nullptr)));
  static_assert(std::is_constructible_v<L, const nlohmann::json&>,
                "register_layer<L>: L needs a constructor from its config, L(const nlohmann::json&)");
  register_layer<T>(type, [](const nlohmann::json& config) -> std::unique_ptr<Layer<T>> {
    return std::make_unique<L>(config);
  });
}

/// The factory registered for `type`, or an empty one.
template <typename T>
LayerFactory<T> registered_layer(const std::string& type) {
  auto& registry = detail::LayerRegistry<T>::instance();
  const std::lock_guard<std::mutex> lock(registry.mutex);
  const auto it = registry.factories.find(type);
  return it == registry.factories.end() ? LayerFactory<T>() : it->second;
}

/// The names registered for scalar type T, sorted.
template <typename T>
std::vector<std::string> registered_layer_types() {
  auto& registry = detail::LayerRegistry<T>::instance();
  const std::lock_guard<std::mutex> lock(registry.mutex);
  std::vector<std::string> names;
  for (const auto& entry : registry.factories) names.push_back(entry.first);
  return names;
}

}  // namespace tinydl
