// The built-in term plugins (losses, regularizers, corruptions) from the build tree, loaded once for all IR
// tests. A missing or broken plugin fails loudly here rather than as a confusing "unknown term" later.
#pragma once

#include <doctest/doctest.h>

#include "ops/ops.h"

namespace hg::test {

inline const PluginRegistry& builtin_plugins() {
  static const PluginRegistry registry = [] {
    PluginRegistry r;
    r.load_folder(HG_PLUGIN_DIR);
    return r;
  }();
  for (const Diagnostic& error : registry.load_errors()) FAIL_CHECK(error.str());
  REQUIRE_MESSAGE(registry.find("loss.bce") != nullptr, "the built-in plugins are not in " HG_PLUGIN_DIR);
  return registry;
}

// The same plugins as lowering sees them.
inline const PluginTerms& builtin_terms() {
  static const PluginTerms terms(builtin_plugins());
  return terms;
}

}  // namespace hg::test
