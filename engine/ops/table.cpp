// The one table of ops. Adding an op: write its file (ops/NAME.cpp, defining `const Op& NAME_op()` or a
// family's list), add it to the list in ops.def, and add its test; the gradient test walks this table.
#include "ops/ops.h"

namespace hg {

#define HG_OP(getter) const Op& getter();
#include "ops/ops.def"
#undef HG_OP

const OpTable& builtin_ops() {
  static const OpTable table({
#define HG_OP(getter) &getter(),
#include "ops/ops.def"
#undef HG_OP
  });
  return table;
}

PluginTerms::PluginTerms(const PluginRegistry& registry) : registry_(registry) {
  for (const TermRef& t : registry.terms())
    terms_.push_back(TermInfo{t.full_name, t.term, t.plugin_path, t.plugin_version});
}

const TermInfo* PluginTerms::find(const std::string& full_name) const {
  for (const TermInfo& t : terms_)
    if (t.full_name == full_name) return &t;
  return nullptr;
}

}  // namespace hg
