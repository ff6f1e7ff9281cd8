// The ONNX module (lib/hourglass/hourglass_onnx.so): an OnnxModel (export/onnx_model.h) as an
// onnx::ModelProto's bytes. Loaded by export_onnx on first use; see onnx_model.h.
#include <onnx/onnx_pb.h>

#include <stdexcept>

#include "export/onnx_model.h"

namespace {

void set_shape(onnx::ValueInfoProto& info, const hg::OnnxValue& value) {
  info.set_name(value.name);
  onnx::TypeProto_Tensor& tensor = *info.mutable_type()->mutable_tensor_type();
  tensor.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& shape = *tensor.mutable_shape();
  shape.add_dim()->set_dim_param("N");
  for (int64_t d : value.dims) shape.add_dim()->set_dim_value(d);
}

void set_attribute(onnx::AttributeProto& attribute, const hg::OnnxAttribute& a) {
  using Kind = hg::OnnxAttribute::Kind;
  attribute.set_name(a.name);
  switch (a.kind) {
    case Kind::Int:
      attribute.set_type(onnx::AttributeProto::INT);
      attribute.set_i(a.i);
      break;
    case Kind::Float:
      attribute.set_type(onnx::AttributeProto::FLOAT);
      attribute.set_f(a.f);
      break;
    case Kind::Ints:
      attribute.set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints) attribute.add_ints(v);
      break;
    case Kind::Floats:
      attribute.set_type(onnx::AttributeProto::FLOATS);
      for (float v : a.floats) attribute.add_floats(v);
      break;
    case Kind::String:
      attribute.set_type(onnx::AttributeProto::STRING);
      attribute.set_s(a.s);
      break;
  }
}

}  // namespace

extern "C" __attribute__((visibility("default"))) void hourglass_serialize_onnx(const hg::OnnxModel* model,
                                                                                std::string* bytes) {
  onnx::ModelProto proto;
  proto.set_ir_version(onnx::IR_VERSION);
  proto.set_producer_name("hourglass");
  onnx::OperatorSetIdProto& opset = *proto.add_opset_import();
  opset.set_domain("");
  opset.set_version(hg::kOnnxOpset);
  onnx::GraphProto& graph = *proto.mutable_graph();
  graph.set_name(model->graph_name);
  for (const hg::OnnxValue& input : model->inputs) set_shape(*graph.add_input(), input);
  for (const hg::OnnxTensor& t : model->initializers) {
    onnx::TensorProto& tensor = *graph.add_initializer();
    tensor.set_name(t.name);
    tensor.set_data_type(t.int64 ? onnx::TensorProto::INT64 : onnx::TensorProto::FLOAT);
    for (int64_t d : t.dims) tensor.add_dims(d);
    if (t.int64)
      tensor.mutable_int64_data()->Add(t.int64s.begin(), t.int64s.end());
    else
      tensor.mutable_float_data()->Add(t.floats.begin(), t.floats.end());
  }
  for (const hg::OnnxNode& n : model->nodes) {
    onnx::NodeProto& node = *graph.add_node();
    node.set_op_type(n.op_type);
    node.set_name(n.name);
    node.set_doc_string(n.doc);
    for (const std::string& input : n.inputs) node.add_input(input);
    for (const std::string& output : n.outputs) node.add_output(output);
    for (const hg::OnnxAttribute& a : n.attributes) set_attribute(*node.add_attribute(), a);
  }
  for (const hg::OnnxValue& output : model->outputs) set_shape(*graph.add_output(), output);
  if (!proto.SerializeToString(bytes)) throw std::runtime_error("the ONNX model did not serialize");
}
