// Lexer and parser for graph files. They report every syntax error they find (resynchronizing at the next
// line) into the sink rather than stopping at the first.
#pragma once

#include <cstdint>
#include <string>

#include "frontend/ast.h"
#include "support/diagnostics.h"

namespace hg {

// Parses `text` (the contents of `file`). Errors go to `sink`; the returned program holds every statement
// that parsed cleanly.
ast::Program parse_graph(const std::string& file, const std::string& text, DiagnosticSink& sink);

// Limits on one graph file with everything it includes, so that a hostile or mistaken file ends in an error
// rather than in a hang or an exhausted memory: files nested deeper than kMaxIncludeDepth, more than
// kMaxIncludes include statements followed, or more than kMaxGraphTextBytes of text read in all.
constexpr int kMaxIncludeDepth = 16;
constexpr int kMaxIncludes = 256;
constexpr uint64_t kMaxGraphTextBytes = uint64_t(8) << 20;

// Reads and parses a file, splicing in the files it includes; an unreadable file or anything that is not a
// regular file (a device, a FIFO, a folder) is an error at "file" (or at the include that names it), an
// include cycle (the same file, however its path is spelled) or a limit above an error at the include.
ast::Program parse_graph_file(const std::string& path, DiagnosticSink& sink);

}  // namespace hg
