// ONNX export of a graph's evaluation (docs/deployment.md): the nodes an output is computed from, each
// through its op's mapping (Op::export_onnx), with the parameters as initializers, written as an
// onnx::ModelProto (Debian's libonnx-dev definitions) to a file that is replaced atomically.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "plan/parameters.h"

namespace hg {

struct OnnxExportOptions {
  NodeId output = kNoNode;  // the model's output: a batched forward node
  // Values the model takes as inputs instead of computing them (a decoder's code); the data inputs that the
  // output is computed from are inputs too.
  std::vector<NodeId> fed;
};

struct OnnxExportSummary {
  std::vector<NodeId> inputs;  // in graph order
  int64_t nodes = 0, initializers = 0;
};

// Throws hg::Error for an output or input that does not fit (naming it), and for a node whose op has no
// mapping (at the node's place in the graph file).
OnnxExportSummary export_onnx(const Graph& graph, ParameterStore& parameters,
                              const OnnxExportOptions& options, const std::string& path);

}  // namespace hg
