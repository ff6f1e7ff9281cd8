// Expressions: pipes, sums, products, unary minus, calls with positional and keyword arguments.
#include "frontend/parser_impl.h"

namespace hg::detail {

// ---- expressions ----

// expr := sum { '|>' callee [ '(' args ')' ] }
ExprPtr Parser::parse_expr() {
  NestingScope scope(nesting_);
  deeper();
  ExprPtr value = parse_sum();
  while (accept("|>")) {
    deeper();
    value = parse_pipe_call(std::move(value));
    const Token& next = peek();
    if (next.is("+") || next.is("-") || next.is("*") || next.is("/"))  // '|>' binds loosest (ast.h)
      fail_at(pos_, "expected end of expression after the piped call to '" + value->text + "', found " +
                        describe(next) + " (put the pipe in parentheses to use its result)");
  }
  return value;
}

// a |> f(b) is f(a, b); the call is placed at f, the piped value keeps its own place.
ExprPtr Parser::parse_pipe_call(ExprPtr piped) {
  const Token& callee = expect_name("a function name after '|>'");
  std::vector<ast::Arg> args(1);
  args[0].location = piped->location;
  args[0].value = std::move(piped);
  if (peek().is("(")) parse_args(callee, args);
  return make_call(callee, std::move(args));
}

// A binary node is placed at its first token, like every node (ast.h).
ExprPtr Parser::parse_sum() {
  NestingScope scope(nesting_);
  const SourceLocation start = peek().location;
  ExprPtr lhs = parse_product();
  while (peek().is("+") || peek().is("-")) {
    const char op = take().text[0];
    deeper();
    ExprPtr rhs = parse_product();
    lhs = make_binary(op, start, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parse_product() {
  NestingScope scope(nesting_);
  const SourceLocation start = peek().location;
  ExprPtr lhs = parse_unary();
  while (peek().is("*") || peek().is("/")) {
    const char op = take().text[0];
    deeper();
    ExprPtr rhs = parse_unary();
    lhs = make_binary(op, start, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

ExprPtr Parser::parse_unary() {
  if (!peek().is("-")) return parse_primary();
  NestingScope scope(nesting_);
  ExprPtr negate = make_expr(Expr::Kind::Negate, take().location);
  deeper();
  negate->lhs = parse_unary();
  return negate;
}

ExprPtr Parser::parse_primary() {
  const Token& token = peek();
  if (token.is("(")) return parse_group();
  if (token.is("[")) return parse_list();
  if (token.kind == TokenKind::Number) {
    ExprPtr number = make_expr(Expr::Kind::Number, take().location);
    number->number = token.number;
    return number;
  }
  if (token.kind == TokenKind::String) {
    ExprPtr string = make_expr(Expr::Kind::String, take().location);
    string->text = token.value;
    return string;
  }
  if (token.kind != TokenKind::Name) fail_expression();
  take();
  if (!peek().is("(")) {
    ExprPtr name = make_expr(Expr::Kind::Name, token.location);
    name->text = token.text;
    return name;
  }
  std::vector<ast::Arg> args;
  parse_args(token, args);
  return make_call(token, std::move(args));
}

ExprPtr Parser::parse_group() {
  const Token& open = take();
  BracketScope scope(brackets_);
  ExprPtr inner = parse_expr();
  expect_closing(")", "')' to close the '(' at " + line_column(open.location));
  return inner;
}

// '[' [ expr { ',' expr } ] ']': only data options take lists, and they check the elements.
ExprPtr Parser::parse_list() {
  const Token& open = take();
  BracketScope scope(brackets_);
  ExprPtr list = make_expr(Expr::Kind::List, open.location);
  if (!peek().is("]")) {
    do {
      ast::Arg element;
      element.location = peek().location;
      element.value = parse_expr();
      list->args.push_back(std::move(element));
    } while (accept(","));
  }
  expect_closing("]", "']' to close the '[' at " + line_column(open.location));
  return list;
}

// '(' [ arg { ',' arg } ] ')', appended to `args` (which holds the piped value, if any).
void Parser::parse_args(const Token& callee, std::vector<ast::Arg>& args) {
  take();
  BracketScope scope(brackets_);
  if (!peek().is(")")) {
    do args.push_back(parse_arg());
    while (accept(","));
  }
  expect_closing(")", "')' to close the call to '" + callee.text + "' at " + line_column(callee.location));
}

// arg := [ NAME '=' ] expr
ast::Arg Parser::parse_arg() {
  const Token& first = peek();
  ast::Arg arg;
  arg.location = first.location;
  if (first.kind == TokenKind::Name && peek_second().is("=")) {
    arg.keyword = first.text;
    take();
    take();
  }
  arg.value = parse_expr();
  return arg;
}
}  // namespace hg::detail
