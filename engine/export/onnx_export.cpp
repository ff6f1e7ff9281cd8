// The ONNX exporter: OnnxContext (ir/onnx.h) over an onnx::ModelProto. Names: a value is called by its
// node's name in the graph ("x", "code", "recon.dense", "code.weights"); what a mapping adds in between is
// "NODE/what". The names a graph gives the nodes inside one statement can repeat ("e.add" for both sums of
// `e = a + 1 + b`), so every name is handed out once, the first node in graph order getting it as it is.
#include "export/onnx_export.h"

#include <onnx/onnx_pb.h>

#include <map>
#include <set>

#include "ir/onnx.h"
#include "runtime/atomic_file.h"

namespace hg {
namespace {

void set_shape(onnx::ValueInfoProto& info, const std::string& name, const Node& n) {
  info.set_name(name);
  onnx::TypeProto_Tensor& tensor = *info.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& shape = *tensor.mutable_shape();
  shape.add_dim()->set_dim_param("N");
  for (int64_t d : n.dims) shape.add_dim()->set_dim_value(d);
}

class ModelBuilder : public OnnxContext {
 public:
  ModelBuilder(const Graph& graph, ParameterStore& parameters, onnx::GraphProto& proto)
      : graph_(graph), parameters_(parameters), proto_(proto) {}

  const Graph& graph() const override { return graph_; }

  std::string value(NodeId id) override {
    if (auto it = names_.find(id); it != names_.end()) return it->second;
    const Node& n = graph_.node(id);
    const std::string name = names_[id] = fresh(n.name);
    if (n.is(OpRole::Parameter)) {
      const ParameterSlot* slot = parameters_.slot(id);
      HG_ASSERT(slot, "parameter '" + n.name + "' has no slot");
      const float* data = parameters_.value(id);
      add_tensor(name, onnx::TensorProto::FLOAT, n.dims)->mutable_float_data()->Add(data, data + slot->count);
    }
    return name;
  }

  std::string temporary(NodeId id, const std::string& suffix) override {
    return fresh(graph_.node(id).name + "/" + suffix);
  }

  void add(NodeId id, const std::string& op_type, const std::vector<std::string>& inputs,
           const std::vector<std::string>& outputs, const std::vector<OnnxAttribute>& attributes) override {
    const Node& n = graph_.node(id);
    onnx::NodeProto& node = *proto_.add_node();
    node.set_op_type(op_type);
    node.set_name(fresh_node_name(n.name));
    node.set_doc_string(n.location.str());
    for (const std::string& input : inputs) node.add_input(input);
    for (const std::string& output : outputs) node.add_output(output);
    for (const OnnxAttribute& a : attributes) {
      onnx::AttributeProto& attribute = *node.add_attribute();
      attribute.set_name(a.name);
      switch (a.kind) {
        case OnnxAttribute::Kind::Int:
          attribute.set_type(onnx::AttributeProto::INT);
          attribute.set_i(a.i);
          break;
        case OnnxAttribute::Kind::Float:
          attribute.set_type(onnx::AttributeProto::FLOAT);
          attribute.set_f(a.f);
          break;
        case OnnxAttribute::Kind::Ints:
          attribute.set_type(onnx::AttributeProto::INTS);
          for (int64_t v : a.ints) attribute.add_ints(v);
          break;
        case OnnxAttribute::Kind::Floats:
          attribute.set_type(onnx::AttributeProto::FLOATS);
          for (float v : a.floats) attribute.add_floats(v);
          break;
        case OnnxAttribute::Kind::String:
          attribute.set_type(onnx::AttributeProto::STRING);
          attribute.set_s(a.s);
          break;
      }
    }
  }

  std::string constant(NodeId id, const std::string& suffix, const std::vector<int64_t>& dims,
                       const std::vector<float>& data) override {
    const std::string name = temporary(id, suffix);
    add_tensor(name, onnx::TensorProto::FLOAT, dims)->mutable_float_data()->Add(data.begin(), data.end());
    return name;
  }

  std::string int64_constant(NodeId id, const std::string& suffix, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& data) override {
    const std::string name = temporary(id, suffix);
    add_tensor(name, onnx::TensorProto::INT64, dims)->mutable_int64_data()->Add(data.begin(), data.end());
    return name;
  }

 private:
  onnx::TensorProto* add_tensor(const std::string& name, onnx::TensorProto::DataType type,
                                const std::vector<int64_t>& dims) {
    onnx::TensorProto* tensor = proto_.add_initializer();
    tensor->set_name(name);
    tensor->set_data_type(type);
    for (int64_t d : dims) tensor->add_dims(d);
    return tensor;
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
  onnx::GraphProto& proto_;
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

  onnx::ModelProto model;
  model.set_ir_version(onnx::IR_VERSION);
  model.set_producer_name("hourglass");
  onnx::OperatorSetIdProto& opset = *model.add_opset_import();
  opset.set_domain("");
  opset.set_version(kOnnxOpset);
  onnx::GraphProto& proto = *model.mutable_graph();
  proto.set_name(graph.file);
  ModelBuilder builder(graph, parameters, proto);
  OnnxExportSummary summary;
  for (NodeId id = 0; id <= output; ++id) {
    if (!needed[size_t(id)]) continue;
    const Node& n = graph.node(id);
    if (fed.count(id) || n.is(OpRole::Input)) {
      set_shape(*proto.add_input(), builder.value(id), n);
      summary.inputs.push_back(id);
    } else if (!n.is(OpRole::Parameter)) {  // parameters become initializers where they are used
      n.op->export_onnx(builder, id);
    }
  }
  set_shape(*proto.add_output(), builder.value(output), out);
  summary.nodes = proto.node_size();
  summary.initializers = proto.initializer_size();

  std::string bytes;
  HG_ASSERT(model.SerializeToString(&bytes), "the ONNX model did not serialize");
  write_file_atomically(path,
                        [&](int fd) { write_all(fd, bytes.data(), bytes.size(), path, "the ONNX model"); });
  return summary;
}

}  // namespace hg
