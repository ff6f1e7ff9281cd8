// The ops hourglass ships, and the plugin terms as lowering sees them. This layer holds one file per op (or
// small family): its typed attributes, shape rule, gradient rule and kernel binding, side by side.
#pragma once

#include "ir/op.h"
#include "ir/terms.h"
#include "plugin/registry.h"

namespace hg {

// Every built-in op, from the one table in ops/table.cpp.
const OpTable& builtin_ops();

// The terms of loaded plugins, as the TermCatalog that lowering reads. Holds the registry by reference.
class PluginTerms : public TermCatalog {
 public:
  explicit PluginTerms(const PluginRegistry& registry);
  const TermInfo* find(const std::string& full_name) const override;
  std::vector<std::string> names() const override { return registry_.term_names(); }
  const std::vector<Diagnostic>& load_errors() const override { return registry_.load_errors(); }

 private:
  const PluginRegistry& registry_;
  std::vector<TermInfo> terms_;
};

}  // namespace hg
