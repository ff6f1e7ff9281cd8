// What lowering needs to know of plugin terms: their signatures (kind, inputs, typed parameters) and where
// they come from. The runtime provides it from the loaded plugins (ops/plugin_terms.h); the IR never loads
// or calls a plugin, and nodes name their term instead of pointing into a registry.
#pragma once

#include <hourglass/plugin.h>

#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg {

struct TermInfo {
  std::string full_name;          // name_space.term
  const hg_term* term = nullptr;  // its signature, valid while the catalog lives
  std::string plugin_path, plugin_version;
};

class TermCatalog {
 public:
  virtual ~TermCatalog() = default;
  virtual const TermInfo* find(const std::string& full_name) const = 0;  // nullptr when unknown
  virtual std::vector<std::string> names() const = 0;
  virtual const std::vector<Diagnostic>& load_errors() const = 0;  // plugins that failed to load
};

}  // namespace hg
