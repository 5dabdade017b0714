#pragma once
/// @file onnx.hpp
/// `OnnxGraph`: builds an ONNX model file (https://onnx.ai, onnx.proto) from nodes, float
/// initializers, one input and one output, written with io/protobuf.hpp. Only what an inference
/// graph of tinydl's layers needs: ModelProto (IR version 8, opset 13 of the default domain), one
/// GraphProto, NodeProto with int, float and ints attributes, float TensorProto initializers as
/// raw little-endian data, and float tensor types with a symbolic batch dimension.
///
/// Field numbers, from onnx.proto:
///     ModelProto      ir_version 1, producer_name 2, producer_version 3, graph 7, opset_import 8
///     OperatorSetId   domain 1, version 2
///     GraphProto      node 1, name 2, initializer 5, input 11, output 12
///     NodeProto       input 1, output 2, name 3, op_type 4, attribute 5
///     AttributeProto  name 1, f 2, i 3, ints 8, type 20 (FLOAT 1, INT 2, INTS 7)
///     TensorProto     dims 1, data_type 2 (FLOAT 1), name 8, raw_data 9
///     ValueInfoProto  name 1, type 2;  TypeProto tensor_type 1;  Tensor elem_type 1, shape 2
///     TensorShape     dim 1;  Dimension dim_value 1, dim_param 2
/// onnx.proto is proto2: repeated numbers are written unpacked, one field each.

#include <cstdint>
#include <string>
#include <vector>

#include "tinydl/io/protobuf.hpp"

namespace tinydl::io {

/// One attribute of a node: an int, a float or a list of ints.
struct OnnxAttribute {
  enum class Kind { integer, real, integers };
  std::string name;
  Kind kind = Kind::integer;
  std::int64_t i = 0;
  float f = 0;
  std::vector<std::int64_t> ints;

  static OnnxAttribute integer(std::string name, std::int64_t value) {
    OnnxAttribute a;
    a.name = std::move(name);
    a.i = value;
    return a;
  }
  static OnnxAttribute real(std::string name, float value) {
    OnnxAttribute a;
    a.name = std::move(name);
    a.kind = Kind::real;
    a.f = value;
    return a;
  }
  static OnnxAttribute integers(std::string name, std::vector<std::int64_t> values) {
    OnnxAttribute a;
    a.name = std::move(name);
    a.kind = Kind::integers;
    a.ints = std::move(values);
    return a;
  }
};

/// An inference graph being built; `bytes()` is the model file.
class OnnxGraph {
 public:
  /// The graph's input and output: float tensors of `dims`, where -1 is the batch, named "N".
  void set_input(const std::string& name, const std::vector<std::int64_t>& dims) {
    input_ = value_info(name, dims);
  }
  void set_output(const std::string& name, const std::vector<std::int64_t>& dims) {
    output_ = value_info(name, dims);
  }

  /// A constant float tensor (weights), `count` values of `dims`.
  void add_initializer(const std::string& name, const std::vector<std::int64_t>& dims, const float* values,
                       std::size_t count) {
    ProtoWriter t;
    for (const std::int64_t d : dims) t.varint(1, d);
    t.varint(2, 1);  // FLOAT
    t.string(8, name);
    t.bytes(9, values, count * sizeof(float));  // raw_data: little-endian, as x86 stores it
    initializers_.push_back(std::move(t));
  }

  /// A node `op_type`(inputs) -> outputs; an empty input name is an omitted optional input.
  void add_node(const std::string& op_type, const std::vector<std::string>& inputs,
                const std::vector<std::string>& outputs, const std::vector<OnnxAttribute>& attributes = {}) {
    ProtoWriter n;
    for (const std::string& in : inputs) n.string(1, in);
    for (const std::string& out : outputs) n.string(2, out);
    n.string(3, outputs.empty() ? op_type : outputs.front());
    n.string(4, op_type);
    for (const OnnxAttribute& a : attributes) {
      ProtoWriter w;
      w.string(1, a.name);
      if (a.kind == OnnxAttribute::Kind::real) {
        w.float32(2, a.f).varint(20, 1);
      } else if (a.kind == OnnxAttribute::Kind::integer) {
        w.varint(3, a.i).varint(20, 2);
      } else {
        for (const std::int64_t v : a.ints) w.varint(8, v);
        w.varint(20, 7);
      }
      n.message(5, w);
    }
    nodes_.push_back(std::move(n));
  }

  /// The ModelProto, ready to be written to a .onnx file.
  std::vector<char> bytes(const std::string& graph_name, const std::string& producer_version) const {
    ProtoWriter graph;
    for (const ProtoWriter& n : nodes_) graph.message(1, n);
    graph.string(2, graph_name);
    for (const ProtoWriter& t : initializers_) graph.message(5, t);
    graph.message(11, input_);
    graph.message(12, output_);
    ProtoWriter opset;
    opset.string(1, "").varint(2, 13);
    ProtoWriter model;
    model.varint(1, 8).string(2, "tinydl").string(3, producer_version).message(7, graph).message(8, opset);
    return model.data();
  }

 private:
  static ProtoWriter value_info(const std::string& name, const std::vector<std::int64_t>& dims) {
    ProtoWriter shape;
    for (const std::int64_t d : dims) {
      ProtoWriter dim;
      if (d < 0)
        dim.string(2, "N");
      else
        dim.varint(1, d);
      shape.message(1, dim);
    }
    ProtoWriter tensor;
    tensor.varint(1, 1).message(2, shape);  // elem_type FLOAT
    ProtoWriter type;
    type.message(1, tensor);
    ProtoWriter info;
    info.string(1, name).message(2, type);
    return info;
  }

  ProtoWriter input_, output_;
  std::vector<ProtoWriter> nodes_, initializers_;
};

}  // namespace tinydl::io
