// The op interface's defaults and the table that finds ops by name or role.
#include "ir/op.h"

#include "ir/graph.h"
#include "ir/onnx.h"

namespace hg {

NodeId Op::lower(LowerContext&, const ast::Expr&) const {
  HG_ASSERT(false, std::string(name()) + " cannot be called from a graph file");
  return kNoNode;
}

void Op::differentiate(GradientContext&, NodeId, NodeId) const {
  HG_ASSERT(false, std::string("no gradient rule for ") + name());
}

void Op::export_onnx(OnnxContext& context, NodeId id) const {
  const Node& n = context.graph().node(id);
  throw Error(n.location,
              std::string("op '") + name() + "' of node '" + n.name + "' cannot be exported to ONNX");
}

OpTable::OpTable(std::vector<const Op*> ops) : ops_(std::move(ops)) {
  for (size_t i = 0; i < ops_.size(); ++i)
    for (size_t j = 0; j < i; ++j)
      HG_ASSERT(std::string(ops_[i]->name()) != ops_[j]->name() || !ops_[i]->callable(),
                std::string("two ops are called ") + ops_[i]->name());
}

const Op* OpTable::find(const std::string& callee) const {
  for (const Op* op : ops_)
    if (op->callable() && callee == op->name()) return op;
  return nullptr;
}

const Op& OpTable::of_role(OpRole role) const {
  for (const Op* op : ops_)
    if (op->role() == role) return *op;
  HG_ASSERT(false, "the op table has no op of role " + std::to_string(int(role)));
  return *ops_.front();
}

std::vector<std::string> OpTable::callees() const {
  std::vector<std::string> names;
  for (const Op* op : ops_)
    if (op->callable()) names.push_back(op->name());
  return names;
}

}  // namespace hg
