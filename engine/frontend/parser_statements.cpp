// Statements of a graph file: data, input, value assignments, train blocks, include, def, freeze, lr_mult.
#include <cmath>

#include "frontend/parser_impl.h"

namespace hg::detail {

// ---- statements ----

ast::Program Parser::parse_program(const std::string& file) {
  ast::Program program;
  program.file = file;
  while (peek().kind != TokenKind::End) {
    if (peek().kind == TokenKind::Newline) {
      take();
      continue;
    }
    try {
      if (std::optional<ast::Statement> statement = parse_statement())
        program.statements.push_back(std::move(*statement));
    } catch (const SyntaxError&) {
      recover(false);
    }
  }
  return program;
}

// The keywords count only here, at the start of a statement; elsewhere 'data' is an ordinary name.
std::optional<ast::Statement> Parser::parse_statement() {
  const Token& first = peek();
  if (first.kind != TokenKind::Name) fail("a statement");
  if (first.text == "data") return parse_data();
  if (first.text == "input") return parse_input();
  if (first.text == "train") return parse_train();
  if (!peek_second().is("=")) {  // `def = 1` still assigns a value named def
    if (first.text == "include") return parse_include();
    if (first.text == "def") return parse_def();
    if (first.text == "freeze") return parse_pattern_statement(ast::Statement::Kind::Freeze);
    if (first.text == "lr_mult") return parse_pattern_statement(ast::Statement::Kind::LrMult);
  }
  return parse_assign();
}

ast::Statement Parser::parse_assign() {
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Assign;
  const Token& name = take();
  statement.location = statement.name_location = name.location;
  statement.name = name.text;
  expect("=", "'=' after '" + name.text + "'");
  statement.value = parse_expr();
  expect_statement_end("an operator or end of line");
  return statement;
}

// The statement's keyword, then its name: `data NAME`, `input NAME`, `def NAME`.
ast::Statement Parser::keyword_and_name(ast::Statement::Kind kind, const std::string& expected) {
  ast::Statement statement;
  statement.kind = kind;
  statement.location = take().location;
  const Token& name = expect_name(expected);
  statement.name = name.text;
  statement.name_location = name.location;
  return statement;
}

ast::Statement Parser::parse_data() {
  ast::Statement statement = keyword_and_name(ast::Statement::Kind::Data, "a name after 'data'");
  expect("=", "'=' after '" + statement.name + "'");
  statement.value = parse_expr();
  expect_statement_end("an operator or end of line");
  return statement;
}

ast::Statement Parser::parse_input() {
  ast::Statement statement = keyword_and_name(ast::Statement::Kind::Input, "a name after 'input'");
  expect(":", "':' after '" + statement.name + "'");
  statement.shape_location = peek().location;
  statement.shape = parse_shape(statement.name);
  expect("<-", "'<-' after the shape of '" + statement.name + "'");
  const Token& source = expect_name("the name of a data field after '<-'");
  statement.source = source.text;
  statement.source_location = source.location;
  expect_statement_end("end of line");
  return statement;
}

ast::Statement Parser::parse_include() {
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Include;
  statement.location = take().location;
  const Token& path = peek();
  if (path.kind != TokenKind::String) fail("a file name in double quotes after 'include'");
  take();
  statement.source = path.value;
  statement.source_location = path.location;
  expect_statement_end("end of line after the included file's name");
  return statement;
}

// def NAME(a, b) = expr
ast::Statement Parser::parse_def() {
  ast::Statement statement = keyword_and_name(ast::Statement::Kind::Def, "a template name after 'def'");
  const Token& open = expect("(", "'(' and the parameters of '" + statement.name + "'");
  {
    BracketScope scope(brackets_);
    if (!peek().is(")")) {
      do {
        const Token& param = expect_name("a parameter name");
        statement.params.push_back(param.text);
        statement.param_locations.push_back(param.location);
      } while (accept(","));
    }
    expect_closing(
        ")", "')' to close the parameters of '" + statement.name + "' at " + line_column(open.location));
  }
  expect("=", "'=' after the parameters of '" + statement.name + "'");
  statement.value = parse_expr();
  expect_statement_end("an operator or end of line");
  return statement;
}

// freeze "glob"  |  lr_mult "glob" = expr
ast::Statement Parser::parse_pattern_statement(ast::Statement::Kind kind) {
  ast::Statement statement;
  statement.kind = kind;
  const Token& keyword = take();
  statement.location = keyword.location;
  const Token& pattern = peek();
  if (pattern.kind != TokenKind::String)
    fail("a parameter name or glob in double quotes after '" + keyword.text + "', such as \"enc1.*\"");
  take();
  statement.source = pattern.value;
  statement.source_location = pattern.location;
  if (kind == ast::Statement::Kind::LrMult) {
    expect("=", "'=' and a multiplier after the pattern");
    statement.value = parse_expr();
  }
  expect_statement_end("end of line");
  return statement;
}

std::vector<int64_t> Parser::parse_shape(const std::string& name) {
  const Token& open = expect("[", "'[' to start the shape of '" + name + "'");
  BracketScope scope(brackets_);
  std::vector<int64_t> shape{parse_dimension()};
  while (accept(",")) shape.push_back(parse_dimension());
  expect_closing("]", "']' to close the shape of '" + name + "' at " + line_column(open.location));
  return shape;
}

// A dimension is a positive integer literal; "-3" is caught here so the message names it whole.
int64_t Parser::parse_dimension() {
  peek();  // moves pos_ past any skipped line breaks
  const size_t start = pos_;
  const bool negative = tokens_[start].is("-") && peek_second().kind == TokenKind::Number;
  if (negative) take();
  const Token& size = peek();
  if (size.kind != TokenKind::Number) fail("a shape dimension (a positive integer)");
  const std::string written = (negative ? "-" : "") + size.text;
  if (negative || size.number < 1 || size.number != std::floor(size.number))
    fail_at(start, "a shape dimension must be a positive integer, found " + written);
  if (size.number > kMaxDimension)
    fail_at(start, "a shape dimension must be at most " + std::to_string(int64_t(kMaxDimension)) +
                       ", found " + written);
  take();
  return static_cast<int64_t>(size.number);
}

// A train statement with a broken setting is dropped, but the rest of its settings are still checked.
std::optional<ast::Statement> Parser::parse_train() {
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Train;
  statement.location = take().location;
  const Token& open = expect("{", "'{' after 'train'");
  const bool clean = parse_settings(open, statement.settings);
  expect_statement_end("end of line after the train block");
  if (!clean) return std::nullopt;
  return statement;
}

// Settings are separated by line breaks, spaces or one comma; the braces do not hide line breaks here,
// since a line break is what ends a setting.
bool Parser::parse_settings(const Token& open, std::vector<ast::Arg>& settings) {
  const std::string unclosed = "'}' to close the train block at " + line_column(open.location);
  bool clean = true;
  for (;;) {
    skip_line_breaks();
    const Token& next = peek();
    if (next.is("}")) break;
    if (next.kind == TokenKind::End) fail(unclosed);
    if (starts_keyword_statement(next))  // the block was left open; resume at that statement, not after it
      fail_with(next.location, "expected " + unclosed + ", found '" + next.text + "'", pos_ - 1, 0);
    try {
      const Token& name = expect_name("a setting name or '}' in the train block");
      expect("=", "'=' after '" + name.text + "'");
      settings.push_back({name.text, name.location, parse_expr()});
      accept(",");
    } catch (const SyntaxError&) {
      clean = false;
      recover(true);
    }
  }
  take();
  return clean;
}

void Parser::expect_statement_end(const char* expected) {
  if (peek().kind == TokenKind::End) return;
  if (peek().kind != TokenKind::Newline) fail(expected);
  take();
}

}  // namespace hg::detail
