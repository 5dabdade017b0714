#pragma once
/// @file onnx_export.hpp
/// `save_onnx(model, path)`: the model's evaluation pass as an ONNX file (io/onnx.hpp) that ONNX
/// Runtime and other engines run. The input is "input" (N, item shape), the output "logits" (or
/// the probabilities when the last layer is a Softmax), N symbolic. Weights keep their PyTorch
/// names ("3.weight"). Each layer maps to the ONNX operator of the same math (opset 13):
///
///     Dense         Gemm(x, weight, bias; transB = 1)
///     Conv2D        Conv(x, weight, bias; kernel_shape, strides, pads)
///     MaxPool2D     MaxPool(kernel_shape, strides, pads)
///     AveragePooling2D  AveragePool(kernel_shape, strides, pads, count_include_pad)
///     GlobalAveragePooling2D  GlobalAveragePool, then Flatten(axis 1) unless keep_dims
///     BatchNorm     BatchNormalization(x, weight, bias, running_mean, running_var; epsilon)
///     Dropout       Identity (evaluation)
///     Flatten       Flatten(axis 1)
///     ReLU, LeakyReLU, Sigmoid, Tanh, Softmax   Relu, LeakyRelu(alpha), Sigmoid, Tanh, Softmax(axis -1)
///     Residual      its body's and its shortcut's nodes (weights "2.0.weight", "2.shortcut.0.weight"), Add
///
/// A layer with no ONNX form (one of your own) is a `ConfigError` naming it; nothing is written.

#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/io/file.hpp"
#include "tinydl/io/onnx.hpp"
#include "tinydl/layers/residual.hpp"
#include "tinydl/model/sequential.hpp"
#include "tinydl/version.hpp"

namespace tinydl {

namespace detail {

/// Reads layer configs and parameters and adds the layer's nodes to an ONNX graph.
template <typename T>
class OnnxExporter {
 public:
  explicit OnnxExporter(Sequential<T>& model) : model_(model) {}

  std::vector<char> bytes() {
    const Shape& item = model_.input_shape();
    std::vector<std::int64_t> dims{-1};
    for (std::size_t d = 0; d < item.rank(); ++d) dims.push_back(static_cast<std::int64_t>(item[d]));
    graph_.set_input("input", dims);
    std::string x = "input";
    for (std::size_t i = 0; i < model_.size(); ++i) {
      const std::string y = i + 1 == model_.size() ? "logits" : "y" + std::to_string(i);
      add_layer(model_.layer(i), std::to_string(i) + ".", x, y);
      x = y;
    }
    std::vector<std::int64_t> out{-1};
    const Shape& last = model_.output_shape(model_.size() - 1);
    for (std::size_t d = 0; d < last.rank(); ++d) out.push_back(static_cast<std::int64_t>(last[d]));
    graph_.set_output("logits", out);
    return graph_.bytes("tinydl.Sequential", version_string);
  }

 private:
  using A = io::OnnxAttribute;

  /// Adds the nodes computing y from x for `layer`, whose parameters are named prefix + name.
  void add_layer(Layer<T>& layer, const std::string& prefix, const std::string& x, const std::string& y) {
    const std::string type = layer.type();
    const nlohmann::json config = layer.config();
    if (type == "Dense") {
      std::vector<std::string> inputs{x, weight(layer, prefix, "weight")};
      if (has(layer, "bias")) inputs.push_back(weight(layer, prefix, "bias"));
      graph_.add_node("Gemm", inputs, {y}, {A::integer("transB", 1)});
    } else if (type == "Conv2D") {
      const Size2d kernel = Size2d::from_json(config.at("kernel_size"), "Conv2D kernel_size");
      const Size2d stride = Size2d::from_json(config.at("stride"), "Conv2D stride");
      const Size2d pad = Padding::from_json(config.at("padding")).resolve(kernel, stride, "Conv2D");
      std::vector<std::string> inputs{x, weight(layer, prefix, "weight")};
      if (has(layer, "bias")) inputs.push_back(weight(layer, prefix, "bias"));
      graph_.add_node("Conv", inputs, {y}, window(kernel, stride, pad));
    } else if (type == "MaxPool2D" || type == "AveragePooling2D") {
      std::vector<A> attributes = window(Size2d::from_json(config.at("pool_size"), "pool_size"),
                                         Size2d::from_json(config.at("stride"), "stride"),
                                         Size2d::from_json(config.at("padding"), "padding"));
      if (type == "AveragePooling2D")
        attributes.push_back(
            A::integer("count_include_pad", config.at("count_include_pad").get<bool>() ? 1 : 0));
      graph_.add_node(type == "MaxPool2D" ? "MaxPool" : "AveragePool", {x}, {y}, attributes);
    } else if (type == "GlobalAveragePooling2D") {
      const bool keep = config.at("keep_dims").get<bool>();
      graph_.add_node("GlobalAveragePool", {x}, {keep ? y : y + ".pooled"});
      if (!keep) graph_.add_node("Flatten", {y + ".pooled"}, {y}, {A::integer("axis", 1)});
    } else if (type == "BatchNorm") {
      graph_.add_node("BatchNormalization",
                      {x, weight(layer, prefix, "weight"), weight(layer, prefix, "bias"),
                       weight(layer, prefix, "running_mean"), weight(layer, prefix, "running_var")},
                      {y}, {A::real("epsilon", static_cast<float>(config.at("eps").get<double>()))});
    } else if (type == "Dropout") {
      graph_.add_node("Identity", {x}, {y});
    } else if (type == "Flatten") {
      graph_.add_node("Flatten", {x}, {y}, {A::integer("axis", 1)});
    } else if (type == "ReLU" || type == "Sigmoid" || type == "Tanh") {
      graph_.add_node(type == "ReLU" ? "Relu" : type, {x}, {y});
    } else if (type == "LeakyReLU") {
      graph_.add_node("LeakyRelu", {x}, {y},
                      {A::real("alpha", static_cast<float>(config.at("negative_slope").get<double>()))});
    } else if (type == "Softmax") {
      graph_.add_node("Softmax", {x}, {y}, {A::integer("axis", -1)});
    } else if (auto* block = type == "Residual" ? dynamic_cast<Residual<T>*>(&layer) : nullptr) {
      std::string body = x, skip = x;  // each stack's nodes, then Add
      for (std::size_t j = 0; j < block->body_size(); ++j) {
        const std::string out = y + ".body." + std::to_string(j);
        add_layer(block->body(j), prefix + std::to_string(j) + ".", body, out);
        body = out;
      }
      for (std::size_t j = 0; j < block->shortcut_size(); ++j) {
        const std::string out = y + ".shortcut." + std::to_string(j);
        add_layer(block->shortcut(j), prefix + "shortcut." + std::to_string(j) + ".", skip, out);
        skip = out;
      }
      graph_.add_node("Add", {body, skip}, {y});
    } else {
      throw ConfigError(concat("save_onnx: layer ", prefix.substr(0, prefix.size() - 1), " ('", layer.name(),
                               "', type ", type, ") has no ONNX form; only tinydl's own layers export"));
    }
  }

  static std::vector<A> window(const Size2d& kernel, const Size2d& stride, const Size2d& pad) {
    const auto n = [](std::size_t v) { return static_cast<std::int64_t>(v); };
    return {A::integers("kernel_shape", {n(kernel.h), n(kernel.w)}),
            A::integers("strides", {n(stride.h), n(stride.w)}),
            A::integers("pads", {n(pad.h), n(pad.w), n(pad.h), n(pad.w)})};  // begins, then ends
  }

  static bool has(Layer<T>& layer, const std::string& name) {
    for (const auto& p : layer.params())
      if (p.name == name) return true;
    return false;
  }

  /// Adds parameter `name` of the layer as a float initializer named prefix + name; returns that.
  std::string weight(Layer<T>& layer, const std::string& prefix, const std::string& name) {
    for (const auto& p : layer.params()) {
      if (p.name != name) continue;
      std::vector<std::int64_t> dims;
      for (std::size_t d = 0; d < p.value.shape().rank(); ++d)
        dims.push_back(static_cast<std::int64_t>(p.value.shape()[d]));
      values_.assign(p.value.begin(), p.value.end());
      graph_.add_initializer(prefix + name, dims, values_.data(), values_.size());
      return prefix + name;
    }
    throw ConfigError(
        concat("save_onnx: ", layer.type(), " '", layer.name(), "' has no parameter '", name, "'"));
  }

  Sequential<T>& model_;
  io::OnnxGraph graph_;
  std::vector<float> values_;
};

}  // namespace detail

/// The ONNX file of the model's evaluation pass (see the file comment), as bytes.
template <typename T>
std::vector<char> onnx_bytes(Sequential<T>& model) {
  check<ConfigError>(model.built(), "save_onnx: the model is not built");
  return detail::OnnxExporter<T>(model).bytes();
}

/// Writes the model's evaluation pass to `path` as an ONNX model (atomically: a failed write
/// leaves what was there). Throws `ConfigError` for a layer without an ONNX form, `IoError` when
/// the file cannot be written.
template <typename T>
void save_onnx(Sequential<T>& model, const std::string& path) {
  io::write_file_atomically(path, onnx_bytes(model));
}

}  // namespace tinydl
