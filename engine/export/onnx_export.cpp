// The ONNX exporter: OnnxContext (ir/onnx.h) over an OnnxModel (onnx_model.h), which the ONNX module
// serializes. Names: a value is called by its
// node's name in the graph ("x", "code", "recon.dense", "code.weights"); what a mapping adds in between is
// "NODE/what". The names a graph gives the nodes inside one statement can repeat ("e.add" for both sums of
// `e = a + 1 + b`), so every name is handed out once, the first node in graph order getting it as it is.
#include "export/onnx_export.h"

#include <map>
#include <set>

#include "export/onnx_model.h"
#include "ir/onnx.h"
#include "plugin/modules.h"
#include "runtime/atomic_file.h"

namespace hg {
namespace {

class ModelBuilder : public OnnxContext {
 public:
  ModelBuilder(const Graph& graph, ParameterStore& parameters, OnnxModel& model)
      : graph_(graph), parameters_(parameters), model_(model) {}

  const Graph& graph() const override { return graph_; }

  std::string value(NodeId id) override {
    if (auto it = names_.find(id); it != names_.end()) return it->second;
    const Node& n = graph_.node(id);
    const std::string name = names_[id] = fresh(n.name);
    if (n.is(OpRole::Parameter)) {
      const ParameterSlot* slot = parameters_.slot(id);
      HG_ASSERT(slot, "parameter '" + n.name + "' has no slot");
      const float* data = parameters_.value(id);
      add_tensor(name, n.dims).floats.assign(data, data + slot->count);
    }
    return name;
  }

  std::string temporary(NodeId id, const std::string& suffix) override {
    return fresh(graph_.node(id).name + "/" + suffix);
  }

  void add(NodeId id, const std::string& op_type, const std::vector<std::string>& inputs,
           const std::vector<std::string>& outputs, const std::vector<OnnxAttribute>& attributes) override {
    const Node& n = graph_.node(id);
    model_.nodes.push_back({op_type, fresh_node_name(n.name), n.location.str(), inputs, outputs, attributes});
  }

  std::string constant(NodeId id, const std::string& suffix, const std::vector<int64_t>& dims,
                       const std::vector<float>& data) override {
    const std::string name = temporary(id, suffix);
    add_tensor(name, dims).floats = data;
    return name;
  }

  std::string int64_constant(NodeId id, const std::string& suffix, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& data) override {
    const std::string name = temporary(id, suffix);
    OnnxTensor& tensor = add_tensor(name, dims);
    tensor.int64 = true;
    tensor.int64s = data;
    return name;
  }

 private:
  OnnxTensor& add_tensor(const std::string& name, const std::vector<int64_t>& dims) {
    model_.initializers.push_back({name, false, dims, {}, {}});
    return model_.initializers.back();
  }
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int k = 2; !values_.insert(name).second; ++k) name = base + "/" + std::to_string(k);
    return name;
  }
  std::string fresh_node_name(const std::string& base) {
    const int k = ++node_names_[base];
    return k == 1 ? base : base + "/" + std::to_string(k);
  }

  const Graph& graph_;
  ParameterStore& parameters_;
  OnnxModel& model_;
  std::map<NodeId, std::string> names_;  // the nodes' values
  std::set<std::string> values_;         // every name handed out
  std::map<std::string, int> node_names_;
};

// A value a model can take or give: one row of values per sample, computed by a forward node.
void check_per_sample(const Node& n, const std::string& role) {
  if (n.is(OpRole::Parameter))
    throw Error(n.location, "'" + n.name + "' is a parameter; the model's " + role +
                                " must be a value with one row per sample");
  if (!n.batched)
    throw Error(n.location, "'" + n.name + "' is " + (n.dims.empty() ? "one number" : shape_string(n.dims)) +
                                " for the whole batch, not a value per sample; the model's " + role +
                                " must have one row per sample");
}

}  // namespace

OnnxExportSummary export_onnx(const Graph& graph, ParameterStore& parameters,
                              const OnnxExportOptions& options, const std::string& path) {
  const NodeId output = options.output;
  const Node& out = graph.node(output);
  HG_ASSERT(out.forward == kNoNode, "export of the backward node '" + out.name + "'");
  check_per_sample(out, "output");
  std::set<NodeId> fed(options.fed.begin(), options.fed.end());
  for (NodeId id : fed) check_per_sample(graph.node(id), "input");
  if (fed.count(output))
    throw Error(out.location, "'" + out.name + "' cannot be both the model's input and its output");
  if (out.is(OpRole::Input))
    throw Error(out.location,
                "'" + out.name + "' is a data input; the model's output must be computed from it");

  // The nodes the output is computed from, stopping at the fed ones.
  std::vector<bool> needed(graph.nodes.size(), false);
  needed[size_t(output)] = true;
  for (NodeId id = output; id >= 0; --id)
    if (needed[size_t(id)] && !fed.count(id))
      for (NodeId input : graph.node(id).inputs) needed[size_t(input)] = true;
  for (NodeId id : fed)
    if (!needed[size_t(id)])
      throw Error(graph.node(id).location, "'" + out.name + "' is not computed from '" + graph.node(id).name +
                                               "', so it cannot be its input");

  OnnxModel model;
  model.graph_name = graph.file;
  ModelBuilder builder(graph, parameters, model);
  OnnxExportSummary summary;
  for (NodeId id = 0; id <= output; ++id) {
    if (!needed[size_t(id)]) continue;
    const Node& n = graph.node(id);
    if (fed.count(id) || n.is(OpRole::Input)) {
      model.inputs.push_back({builder.value(id), n.dims});
      summary.inputs.push_back(id);
    } else if (!n.is(OpRole::Parameter)) {  // parameters become initializers where they are used
      n.op->export_onnx(builder, id);
    }
  }
  model.outputs.push_back({builder.value(output), out.dims});
  summary.nodes = int64_t(model.nodes.size());
  summary.initializers = int64_t(model.initializers.size());

  const auto serialize = reinterpret_cast<SerializeOnnx>(
      module_symbol("hourglass_onnx.so", "hourglass_serialize_onnx", "writing ONNX models"));
  std::string bytes;
  serialize(&model, &bytes);
  write_file_atomically(path,
                        [&](int fd) { write_all(fd, bytes.data(), bytes.size(), path, "the ONNX model"); });
  return summary;
}

}  // namespace hg
