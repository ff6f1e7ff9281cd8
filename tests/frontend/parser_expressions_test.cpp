// Expression parsing: the exact tree shape (precedence, associativity, pipes, keyword arguments) and the
// location of every node, checked through a fully parenthesized rendering so that no structure is hidden.
#include <doctest/doctest.h>

#include "frontend/parser.h"

using namespace hg;
using ast::Expr;

namespace {

// Lisp-style rendering that shows every node: (+ a (* b c)), (neg x), (f a k=2).
std::string tree(const Expr& expr) {
  switch (expr.kind) {
    case Expr::Kind::Number:
    case Expr::Kind::String:
    case Expr::Kind::Name:
      return ast::to_string(expr);
    case Expr::Kind::Negate:
      return "(neg " + tree(*expr.lhs) + ")";
    case Expr::Kind::Binary:
      return std::string("(") + expr.op + " " + tree(*expr.lhs) + " " + tree(*expr.rhs) + ")";
    case Expr::Kind::Call:
    case Expr::Kind::List:  // rendered as (list a b)
      break;
  }
  std::string out = "(" + (expr.kind == Expr::Kind::List ? std::string("list") : expr.text);
  for (const ast::Arg& arg : expr.args)
    out += " " + (arg.keyword.empty() ? "" : arg.keyword + "=") + tree(*arg.value);
  return out + ")";
}

// Parses "h = <text>" and returns the value; any error fails the test.
ast::ExprPtr parse_value(const std::string& text) {
  DiagnosticSink sink;
  ast::Program program = parse_graph("g.graph", "h = " + text + "\n", sink);
  for (const Diagnostic& d : sink.diagnostics()) FAIL_CHECK(d.str());
  REQUIRE(program.statements.size() == 1);
  return std::move(program.statements[0].value);
}

std::string tree_of(const std::string& text) {
  return tree(*parse_value(text));
}

}  // namespace

TEST_CASE("expressions: leaves") {
  CHECK(parse_value("3.5")->number == 3.5);
  CHECK(parse_value("\"a\\\"b\"")->text == "a\"b");
  CHECK(parse_value("\"a\\\"b\"")->kind == Expr::Kind::String);
  CHECK(parse_value("loss.bce")->text == "loss.bce");
  CHECK(parse_value("loss.bce")->kind == Expr::Kind::Name);
}

TEST_CASE("expressions: * and / bind tighter than + and -, and all are left-associative") {
  CHECK(tree_of("1 + 2 * 3") == "(+ 1 (* 2 3))");
  CHECK(tree_of("1 * 2 + 3") == "(+ (* 1 2) 3)");
  CHECK(tree_of("a - b - c") == "(- (- a b) c)");
  CHECK(tree_of("a / b / c") == "(/ (/ a b) c)");
  CHECK(tree_of("a - b * c / d + e") == "(+ (- a (/ (* b c) d)) e)");
  CHECK(tree_of("(1 + 2) * 3") == "(* (+ 1 2) 3)");
  CHECK(tree_of("a - (b - c)") == "(- a (- b c))");
  CHECK(tree_of("((x))") == "x");
}

TEST_CASE("expressions: 1/255 stays a division; the frontend does not evaluate") {
  const ast::ExprPtr value = parse_value("1/255");
  CHECK(value->kind == Expr::Kind::Binary);
  CHECK(value->op == '/');
  CHECK(value->lhs->number == 1);
  CHECK(value->rhs->number == 255);
}

TEST_CASE("expressions: unary minus binds tighter than * and nests") {
  CHECK(tree_of("-a * b") == "(* (neg a) b)");
  CHECK(tree_of("a * -b") == "(* a (neg b))");
  CHECK(tree_of("- -a") == "(neg (neg a))");
  CHECK(tree_of("-(a + b)") == "(neg (+ a b))");
  CHECK(tree_of("-3") == "(neg 3)");
  CHECK(tree_of("a--b") == "(- a (neg b))");
}

TEST_CASE("expressions: calls with positional and keyword arguments") {
  CHECK(tree_of("f()") == "(f)");
  CHECK(tree_of("dense(x, 32)") == "(dense x 32)");
  CHECK(tree_of("dense(x, 784, tied=code.weights)") == "(dense x 784 tied=code.weights)");
  CHECK(tree_of("f(g(x), k=h(y, z=1) + 2)") == "(f (g x) k=(+ (h y z=1) 2))");
  CHECK(tree_of("loss.bce(r, x)") == "(loss.bce r x)");
}

TEST_CASE("expressions: a |> f(b) means f(a, b), lowest precedence, chained left to right") {
  CHECK(tree_of("a |> f") == "(f a)");
  CHECK(tree_of("a |> f(b, k=2)") == "(f a b k=2)");
  CHECK(tree_of("a |> f()") == "(f a)");
  CHECK(tree_of("x |> dense(32) |> relu") == "(relu (dense x 32))");
  CHECK(tree_of("a + b |> f") == "(f (+ a b))");
  CHECK(tree_of("g(a |> f, b)") == "(g (f a) b)");
  CHECK(tree_of("(a |> f) * 2") == "(* (f a) 2)");
}

TEST_CASE("expressions: calls and groups may wrap across lines") {
  CHECK(tree_of("dense(\n  x,\n  32\n)") == "(dense x 32)");
  CHECK(tree_of("dense(x\n  , 32)") == "(dense x 32)");
  CHECK(tree_of("(a\n +\n b)") == "(+ a b)");
  CHECK(tree_of("f(a |>\n g)") == "(f (g a))");
}

TEST_CASE("expressions: every node is placed at its first token; a piped call at its callee") {
  // Parsed as "h = (x |> dense(32, k=-b)) + c * 2", so the value starts at column 5.
  const ast::ExprPtr value = parse_value("(x |> dense(32, k=-b)) + c * 2");
  CHECK(value->location.str() == "g.graph:1:5");  // the '+' node starts at the '('
  const Expr& call = *value->lhs;
  CHECK(call.kind == Expr::Kind::Call);
  CHECK(call.location.str() == "g.graph:1:11");  // dense
  REQUIRE(call.args.size() == 3);
  CHECK(call.args[0].location.str() == "g.graph:1:6");  // the piped x
  CHECK(call.args[0].value->location.str() == "g.graph:1:6");
  CHECK(call.args[1].location.str() == "g.graph:1:17");  // 32
  CHECK(call.args[2].keyword == "k");
  CHECK(call.args[2].location.str() == "g.graph:1:21");         // k
  CHECK(call.args[2].value->location.str() == "g.graph:1:23");  // the '-'
  CHECK(call.args[2].value->lhs->location.str() == "g.graph:1:24");
  const Expr& product = *value->rhs;
  CHECK(product.op == '*');
  CHECK(product.location.str() == "g.graph:1:30");  // c
}

TEST_CASE("expressions: a binary node inside parentheses starts at its '('") {
  const ast::ExprPtr value = parse_value("(a + b) * c");
  CHECK(value->location.str() == "g.graph:1:5");
  CHECK(value->lhs->location.str() == "g.graph:1:6");
}

TEST_CASE("expressions: locations on a later line of a wrapped call") {
  const ast::ExprPtr value = parse_value("f(a,\n\t  b)");
  REQUIRE(value->args.size() == 2);
  CHECK(value->args[1].location.str() == "g.graph:2:4");
}

TEST_CASE("expressions: deep but bounded nesting is accepted (the limit is 200 levels)") {
  std::string text = "1";
  for (int i = 0; i < 150; ++i) text = "(" + text + ")";
  CHECK(parse_value(text)->number == 1);
  std::string chain = "x";
  for (int i = 0; i < 150; ++i) chain += " + 1";
  CHECK(parse_value(chain)->kind == Expr::Kind::Binary);
}

TEST_CASE("a list holds any expressions, spans lines, and renders back as written") {
  CHECK(tree_of("subset(d, classes=[5, 6 + 1,\n  -2], names=[\"a\"], none=[])") ==
        "(subset d classes=(list 5 (+ 6 1) (neg 2)) names=(list \"a\") none=(list))");
  CHECK(ast::to_string(*parse_value("f(size=[1, 28, 28])")) == "f(size=[1, 28, 28])");
}
