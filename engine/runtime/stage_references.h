// Internal to runtime/: the references between a pipeline's stages, and their checks
// (stage_references.cpp). The parser (stage_parser.cpp) checks a parsed pipeline with them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "runtime/stages.h"

namespace hg {

// Each stage's references to other stages (init, eval and encode sources, summary inputs), with where they
// are written.
std::vector<std::pair<std::string, SourceLocation>> stage_references(const Stage& s);

// Unknown, duplicate, forward and cyclic references, and references to stages of the wrong kind. `broken`
// stages did not parse: their errors are out already, so references to them pass silently. Names and
// outputs are looked up in hash maps: the checks stay near linear in the number of stages.
void check_references(const std::vector<Stage>& stages, const std::vector<std::string>& broken,
                      DiagnosticSink& sink);

}  // namespace hg
