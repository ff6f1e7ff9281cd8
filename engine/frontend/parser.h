// Lexer and parser for graph files. They report every syntax error they find (resynchronizing at the next
// line) into the sink rather than stopping at the first.
#pragma once

#include <string>

#include "frontend/ast.h"
#include "support/diagnostics.h"

namespace hg {

// Parses `text` (the contents of `file`). Errors go to `sink`; the returned program holds every statement
// that parsed cleanly.
ast::Program parse_graph(const std::string& file, const std::string& text, DiagnosticSink& sink);

// Reads and parses a file, splicing in the files it includes; an unreadable file is an error at "file" (or
// at the include that names it), an include cycle an error at the include.
ast::Program parse_graph_file(const std::string& path, DiagnosticSink& sink);

}  // namespace hg
