// libFuzzer harness: graph-file text through the parser and, when it parses, lowering with the built-in
// plugins (names, shapes, parameters, terms). hg::Error is the expected end of a bad graph; any other
// exception, crash, sanitizer report, hang or blow-up is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "frontend/parser.h"
#include "ir/lower.h"
#include "ops/ops.h"

namespace {

const hg::PluginRegistry& builtin_plugins() {
  static const hg::PluginRegistry registry = [] {
    hg::PluginRegistry r;
    r.load_folder(HG_PLUGIN_DIR);
    return r;
  }();
  return registry;
}

const hg::PluginTerms& builtin_terms() {
  static const hg::PluginTerms terms(builtin_plugins());
  return terms;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  hg::DiagnosticSink sink;
  const hg::ast::Program program = hg::parse_graph("fuzz.graph", text, sink);
  if (sink.has_errors()) return 0;
  try {
    hg::lower(program, text, hg::builtin_ops(), builtin_terms());
  } catch (const hg::Error&) {
  }
  return 0;
}
