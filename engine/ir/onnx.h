// What an op's ONNX mapping (Op::export_onnx, in the op's own file under engine/ops/) may use: the values
// of the graph by name, new nodes, constants and names for intermediate values. The exporter that writes
// the protobuf (engine/export/) implements it, so no protobuf type reaches the IR or the ops.
//
// Conventions every mapping relies on: a batched value is an ONNX tensor [N, dims...] (N the dynamic batch,
// images NCHW as hourglass stores them), an unbatched one is [dims...] (a scalar is rank 0), and a parameter
// is an initializer of its own name and shape. The exported graph is the evaluation graph: a mapping
// exports what the op computes in PlanMode::Eval.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/op.h"

namespace hg {

// One ONNX opset for every mapping: 17 is the newest that Debian 12's onnx (1.12) checks, and the first with
// LayerNormalization.
constexpr int64_t kOnnxOpset = 17;

struct OnnxAttribute {
  enum class Kind { Int, Float, Ints, Floats, String };
  Kind kind = Kind::Int;
  std::string name;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::vector<float> floats;
  std::string s;

  static OnnxAttribute integer(std::string name, int64_t v);
  static OnnxAttribute real(std::string name, float v);
  static OnnxAttribute integers(std::string name, std::vector<int64_t> v);
  static OnnxAttribute reals(std::string name, std::vector<float> v);
  static OnnxAttribute text(std::string name, std::string v);
};

class OnnxContext {
 public:
  virtual ~OnnxContext() = default;
  virtual const Graph& graph() const = 0;
  // The name of a node's value in the model: a model input, a parameter's initializer (added on first use),
  // or the output of the node's own mapping. A mapping writes its node's result to value(node).
  virtual std::string value(NodeId node) = 0;
  // A fresh name for an intermediate value of `node`'s mapping, e.g. "recon.dense/flat".
  virtual std::string temporary(NodeId node, const std::string& suffix) = 0;
  // Appends an ONNX node computing `outputs` from `inputs` ("" for an omitted optional input). The ONNX node
  // is named after `node` and carries its source location.
  virtual void add(NodeId node, const std::string& op_type, const std::vector<std::string>& inputs,
                   const std::vector<std::string>& outputs,
                   const std::vector<OnnxAttribute>& attributes = {}) = 0;
  // Constant initializers of `node`'s mapping (a Reshape's shape, a scalar of an arithmetic op); the name.
  virtual std::string constant(NodeId node, const std::string& suffix, const std::vector<int64_t>& dims,
                               const std::vector<float>& data) = 0;
  virtual std::string int64_constant(NodeId node, const std::string& suffix, const std::vector<int64_t>& dims,
                                     const std::vector<int64_t>& data) = 0;

  // Shorthands for the common cases: one input, one output.
  std::string unary(NodeId node, const std::string& op_type, const std::string& input,
                    const std::string& output, const std::vector<OnnxAttribute>& attributes = {}) {
    add(node, op_type, {input}, {output}, attributes);
    return output;
  }
  // A value as [N, elements] (Flatten), as a row-wise op such as Gemm or Softmax reads it; the value itself
  // where it already is one row per sample.
  std::string rows(NodeId node, NodeId value);
  // Reshape(input) to `shape` (ONNX's rules: -1 is inferred, so a batched shape starts with -1).
  std::string reshape(NodeId node, const std::string& input, const std::vector<int64_t>& shape,
                      const std::string& output) {
    add(node, "Reshape", {input, int64s(node, "shape", shape)}, {output});
    return output;
  }
  // A 1-D int64 constant, for shapes, axes and counts.
  std::string int64s(NodeId node, const std::string& suffix, const std::vector<int64_t>& data) {
    return int64_constant(node, suffix, {int64_t(data.size())}, data);
  }
};

}  // namespace hg
