// libFuzzer harness: pipeline-file text through the pipeline parser and its reference checks (unknown,
// duplicate, late and cyclic stage references). hg::Error is the expected end of a bad file; anything else
// is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/stages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  hg::DiagnosticSink sink;
  try {
    hg::parse_pipeline("fuzz.pipeline", text, sink);
  } catch (const hg::Error&) {
  }
  return 0;
}
