// Diagnostics formatting and "did you mean" suggestions.
#include <doctest/doctest.h>

#include "support/diagnostics.h"

using namespace hg;

TEST_CASE("a diagnostic prints as file:line:col with its notes") {
  Diagnostic d{Severity::Error, {"a.graph", 3, 7}, "unknown op 'dence'", {}};
  d.notes.push_back({Severity::Note, {"a.graph", 1, 1}, "first defined here", {}});
  CHECK(d.str() == "a.graph:3:7: error: unknown op 'dence'\na.graph:1:1: note: first defined here\n");
  CHECK(SourceLocation{"a.graph", 0, 0}.str() == "a.graph");
}

TEST_CASE("did_you_mean lists close names, best first, and nothing for far ones") {
  CHECK(did_you_mean("dence", {"dense", "relu", "sigmoid"}) == " (did you mean 'dense'?)");
  CHECK(did_you_mean("sigmod", {"sigmoid", "tanh"}) == " (did you mean 'sigmoid'?)");
  CHECK(did_you_mean("xyzzy", {"dense", "relu"}).empty());
  CHECK(closest_names("relu", {"relu", "reku", "relus"}) == std::vector<std::string>{"reku", "relus"});
}

TEST_CASE("DiagnosticSink collects every error and throws them together") {
  DiagnosticSink sink;
  sink.error({"f", 1, 1}, "one");
  sink.error({"f", 2, 1}, "two");
  try {
    sink.throw_if_errors();
    FAIL("expected a throw");
  } catch (const Error& e) {
    CHECK(e.diagnostics().size() == 2);
    CHECK(std::string(e.what()) == "f:1:1: error: one\nf:2:1: error: two");
  }
}
