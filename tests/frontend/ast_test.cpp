// ast::to_string: readable text for messages that parses back to the same tree.
#include <doctest/doctest.h>

#include "frontend/parser.h"

using namespace hg;

namespace {

ast::ExprPtr parse_value(const std::string& text) {
  DiagnosticSink sink;
  ast::Program program = parse_graph("g.graph", "h = " + text + "\n", sink);
  for (const Diagnostic& d : sink.diagnostics()) FAIL_CHECK(d.str());
  REQUIRE(program.statements.size() == 1);
  return std::move(program.statements[0].value);
}

std::string rendered(const std::string& text) {
  return ast::to_string(*parse_value(text));
}

}  // namespace

TEST_CASE("to_string: calls, keyword arguments, dotted names and strings") {
  CHECK(rendered("dense(x,32)") == "dense(x, 32)");
  CHECK(rendered("f()") == "f()");
  CHECK(rendered("dense(code , 784 , tied = code.weights)") == "dense(code, 784, tied=code.weights)");
  CHECK(rendered("idx(images=\"a \\\"b\\\" \\\\c.idx\")") == "idx(images=\"a \\\"b\\\" \\\\c.idx\")");
  CHECK(rendered("loss.bce(r, x)+0.0001*reg.l2(code.weights)") ==
        "loss.bce(r, x) + 0.0001 * reg.l2(code.weights)");
}

TEST_CASE("to_string: a pipe is shown as the call it means") {
  CHECK(rendered("x |> dense(32) |> relu") == "relu(dense(x, 32))");
  CHECK(rendered("a |> f(b, k=2)") == "f(a, b, k=2)");
}

TEST_CASE("to_string: operators get spaces and only the parentheses the tree needs") {
  CHECK(rendered("1/255") == "1 / 255");
  CHECK(rendered("((a + b)) * c") == "(a + b) * c");
  CHECK(rendered("a + (b * c)") == "a + b * c");
  CHECK(rendered("a - (b - c)") == "a - (b - c)");
  CHECK(rendered("(a - b) - c") == "a - b - c");
  CHECK(rendered("a / (b * c)") == "a / (b * c)");
  CHECK(rendered("-(a + b)") == "-(a + b)");
  CHECK(rendered("-a * -b") == "-a * -b");
  CHECK(rendered("-f(x)") == "-f(x)");
  CHECK(rendered("f(k=a + b)") == "f(k=a + b)");
}

TEST_CASE("to_string: numbers in their shortest plain form") {
  CHECK(rendered("1e-4") == "0.0001");
  CHECK(rendered("3.5E+2") == "350");
  CHECK(rendered("60000") == "60000");
  CHECK(rendered("0.1") == "0.1");
  CHECK(rendered("2.50") == "2.5");
  CHECK(rendered("1e-7") == "1e-07");
  CHECK(rendered("1e20") == "1e+20");
  CHECK(rendered("0.30000000000000004") == "0.30000000000000004");
}

TEST_CASE("to_string: the text parses back to the same rendering") {
  for (const char* text :
       {"loss.bce(r, x) + 0.0001 * reg.l2(code.weights)", "-(-a - -b) / (c * (d / e))",
        "f(a |> g(1), k=(x |> h) * 2)", "\"q\\\"\\\\\" + 1e-300", "a - (b + c) - (d - e)"}) {
    CAPTURE(text);
    const std::string once = rendered(text);
    CHECK(rendered(once) == once);
  }
}

TEST_CASE("to_string: a hand-built tree with a missing operand shows the hole") {
  ast::Expr negate;
  negate.kind = ast::Expr::Kind::Negate;
  CHECK(ast::to_string(negate) == "-<missing>");
}
