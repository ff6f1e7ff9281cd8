// An ONNX model as plain data: what the exporter (onnx_export.cpp) builds from a graph, and what the ONNX
// module (lib/hourglass/hourglass_onnx.so, protobuf/onnx_protobuf.cpp) writes as an onnx::ModelProto. The
// module holds every use of protobuf and Debian's libonnx, so that only `export` loads them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/onnx.h"

namespace hg {

struct OnnxTensor {  // an initializer: float data, or int64 where int64 is set
  std::string name;
  bool int64 = false;
  std::vector<int64_t> dims;
  std::vector<float> floats;
  std::vector<int64_t> int64s;
};

struct OnnxNode {
  std::string op_type, name, doc;  // doc: the graph file's place of the node
  std::vector<std::string> inputs, outputs;
  std::vector<OnnxAttribute> attributes;
};

struct OnnxValue {  // a model input or output: float [N, dims...], N the dynamic batch
  std::string name;
  std::vector<int64_t> dims;
};

struct OnnxModel {
  std::string graph_name;
  std::vector<OnnxNode> nodes;
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxValue> inputs, outputs;
};

// The module's entry point: `model` serialized as an onnx::ModelProto (ONNX IR of Debian's libonnx, opset
// kOnnxOpset, producer "hourglass") into `bytes`. Throws std::runtime_error if protobuf fails.
using SerializeOnnx = void (*)(const OnnxModel* model, std::string* bytes);

}  // namespace hg
