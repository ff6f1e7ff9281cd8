// The helpers of the ONNX mapping interface; the exporter itself is engine/export/.
#include "ir/onnx.h"

#include "ir/graph.h"

namespace hg {

OnnxAttribute OnnxAttribute::integer(std::string name, int64_t v) {
  OnnxAttribute a;
  a.kind = Kind::Int;
  a.name = std::move(name);
  a.i = v;
  return a;
}

OnnxAttribute OnnxAttribute::real(std::string name, float v) {
  OnnxAttribute a;
  a.kind = Kind::Float;
  a.name = std::move(name);
  a.f = v;
  return a;
}

OnnxAttribute OnnxAttribute::integers(std::string name, std::vector<int64_t> v) {
  OnnxAttribute a;
  a.kind = Kind::Ints;
  a.name = std::move(name);
  a.ints = std::move(v);
  return a;
}

OnnxAttribute OnnxAttribute::reals(std::string name, std::vector<float> v) {
  OnnxAttribute a;
  a.kind = Kind::Floats;
  a.name = std::move(name);
  a.floats = std::move(v);
  return a;
}

OnnxAttribute OnnxAttribute::text(std::string name, std::string v) {
  OnnxAttribute a;
  a.kind = Kind::String;
  a.name = std::move(name);
  a.s = std::move(v);
  return a;
}

std::string OnnxContext::rows(NodeId node, NodeId value) {
  const Node& v = graph().node(value);
  HG_ASSERT(v.batched, "rows() of the unbatched '" + v.name + "'");
  if (v.dims.size() == 1) return this->value(value);
  return unary(node, "Flatten", this->value(value), temporary(node, "rows"),
               {OnnxAttribute::integer("axis", 1)});
}

}  // namespace hg
