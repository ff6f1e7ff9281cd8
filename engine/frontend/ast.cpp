// Renders expressions back to graph-file text for messages and `check` output. The text parses back to
// the same tree: parentheses are added exactly where precedence or grouping needs them.
#include "frontend/ast.h"

#include <charconv>
#include <cmath>

namespace hg::ast {
namespace {

// Binding strength: sums < products < everything else (negation, calls, leaves).
int precedence(const Expr& expr) {
  if (expr.kind != Expr::Kind::Binary) return 3;
  return expr.op == '+' || expr.op == '-' ? 1 : 2;
}

// The shortest text that reads back as the same double, without exponents for ordinary values: 0.0001
// rather than 1e-04, 60000 rather than 6e+04.
std::string format_number(double value) {
  char buffer[64];
  const bool integral = value == std::floor(value) && std::fabs(value) < 1e15;
  for (int digits = integral ? 17 : 1; digits <= 17; ++digits) {
    const auto end =
        std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::general, digits).ptr;
    double back = 0;
    std::from_chars(buffer, end, back);
    if (back == value || digits == 17) return std::string(buffer, end);
  }
  return "";  // unreachable: the loop returns at 17 digits
}

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void render(const Expr& expr, std::string& out);

// Renders an operand, in parentheses when it binds more loosely than `min_precedence` requires.
void render_operand(const ExprPtr& operand, int min_precedence, std::string& out) {
  if (!operand) {  // only a hand-built tree can get here; show the hole rather than crash in a message
    out += "<missing>";
    return;
  }
  const bool parenthesize = precedence(*operand) < min_precedence;
  if (parenthesize) out += '(';
  render(*operand, out);
  if (parenthesize) out += ')';
}

void render_call(const Expr& call, std::string& out) {
  out += call.text + "(";
  for (size_t i = 0; i < call.args.size(); ++i) {
    if (i > 0) out += ", ";
    if (!call.args[i].keyword.empty()) out += call.args[i].keyword + "=";
    render_operand(call.args[i].value, 0, out);
  }
  out += ")";
}

// The right operand needs parentheses at equal precedence too: a - (b - c) is not a - b - c.
void render(const Expr& expr, std::string& out) {
  switch (expr.kind) {
    case Expr::Kind::Number:
      out += format_number(expr.number);
      break;
    case Expr::Kind::String:
      out += quote(expr.text);
      break;
    case Expr::Kind::Name:
      out += expr.text;
      break;
    case Expr::Kind::Call:
      render_call(expr, out);
      break;
    case Expr::Kind::List:
      out += "[";
      for (size_t i = 0; i < expr.args.size(); ++i) {
        if (i > 0) out += ", ";
        render_operand(expr.args[i].value, 0, out);
      }
      out += "]";
      break;
    case Expr::Kind::Negate:
      out += "-";
      render_operand(expr.lhs, 3, out);
      break;
    case Expr::Kind::Binary:
      render_operand(expr.lhs, precedence(expr), out);
      out += std::string(" ") + expr.op + " ";
      render_operand(expr.rhs, precedence(expr) + 1, out);
      break;
  }
}

}  // namespace

std::string to_string(const Expr& expr) {
  std::string out;
  render(expr, out);
  return out;
}

}  // namespace hg::ast
