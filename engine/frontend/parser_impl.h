// The recursive-descent parser's class and small helpers, shared by parser.cpp (token stream, errors,
// files and includes), parser_statements.cpp and parser_expressions.cpp. Internal to the frontend.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "frontend/ast.h"
#include "frontend/lexer.h"
#include "support/diagnostics.h"

namespace hg::detail {

using ast::Expr;
using ast::ExprPtr;

// Deeper expressions are refused so that neither this parser nor the passes walking the tree can exhaust
// the stack; a long chain like 1+1+...+1 also counts, since it builds a tree that deep.
constexpr int kMaxNesting = 200;
constexpr double kMaxDimension = 2147483647;

// Thrown after an error has been reported, to unwind to a place that can resynchronize.
struct SyntaxError {};

inline std::string line_column(const SourceLocation& where) {
  return std::to_string(where.line) + ":" + std::to_string(where.column);
}

// Counts open brackets for as long as the parser is inside one, whatever way it leaves.
class BracketScope {
 public:
  explicit BracketScope(int& depth) : depth_(depth) { ++depth_; }
  ~BracketScope() { --depth_; }

 private:
  int& depth_;
};

// Restores the expression nesting level when a parse function returns or unwinds.
class NestingScope {
 public:
  explicit NestingScope(int& nesting) : nesting_(nesting), saved_(nesting) {}
  ~NestingScope() { nesting_ = saved_; }

 private:
  int& nesting_;
  int saved_;
};

inline ExprPtr make_expr(Expr::Kind kind, SourceLocation where) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->location = std::move(where);
  return expr;
}

inline ExprPtr make_binary(char op, const SourceLocation& start, ExprPtr lhs, ExprPtr rhs) {
  ExprPtr expr = make_expr(Expr::Kind::Binary, start);
  expr->op = op;
  expr->lhs = std::move(lhs);
  expr->rhs = std::move(rhs);
  return expr;
}

inline ExprPtr make_call(const Token& callee, std::vector<ast::Arg> args) {
  ExprPtr call = make_expr(Expr::Kind::Call, callee.location);
  call->text = callee.text;
  call->args = std::move(args);
  return call;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, DiagnosticSink& sink) : tokens_(std::move(tokens)), sink_(sink) {}
  ast::Program parse_program(const std::string& file);

 private:
  // The token stream. Inside brackets, line breaks are invisible.
  const Token& peek();
  const Token& peek_second();
  const Token& previous() const;
  const Token& take();
  bool accept(const char* punct);
  const Token& expect(const char* punct, const std::string& expected);
  const Token& expect_closing(const char* punct, const std::string& expected);
  const Token& expect_name(const std::string& expected);
  void skip_line_breaks();
  bool starts_keyword_statement(const Token& token);
  // Errors and recovery.
  [[noreturn]] void fail_with(const SourceLocation& where, const std::string& message, size_t resume_at,
                              int open_brackets);
  [[noreturn]] void fail_at(size_t index, const std::string& message);
  [[noreturn]] void fail(const std::string& expected);
  [[noreturn]] void fail_expression();
  void recover(bool inside_train_block);
  void deeper();
  // Statements.
  std::optional<ast::Statement> parse_statement();
  ast::Statement parse_assign();
  ast::Statement keyword_and_name(ast::Statement::Kind kind, const std::string& expected);
  ast::Statement parse_data();
  ast::Statement parse_input();
  ast::Statement parse_include();
  ast::Statement parse_def();
  ast::Statement parse_pattern_statement(ast::Statement::Kind kind);
  std::optional<ast::Statement> parse_train();
  bool parse_settings(const Token& open, std::vector<ast::Arg>& settings);
  std::vector<int64_t> parse_shape(const std::string& name);
  int64_t parse_dimension();
  void expect_statement_end(const char* expected);
  // Expressions.
  ExprPtr parse_expr();
  ExprPtr parse_pipe_call(ExprPtr piped);
  ExprPtr parse_sum();
  ExprPtr parse_product();
  ExprPtr parse_unary();
  ExprPtr parse_primary();
  ExprPtr parse_group();
  ExprPtr parse_list();
  void parse_args(const Token& callee, std::vector<ast::Arg>& args);
  ast::Arg parse_arg();

  const std::vector<Token> tokens_;
  DiagnosticSink& sink_;
  size_t pos_ = 0;
  int brackets_ = 0;         // brackets open in the statement being parsed
  int nesting_ = 0;          // depth of the expression tree being built
  size_t resume_at_ = 0;     // where recovery starts skipping after an error
  int resume_brackets_ = 0;  // brackets still open at that point
};

inline bool is_statement_keyword(const std::string& text) {
  for (const char* keyword : {"data", "input", "train", "include", "def", "freeze", "lr_mult"})
    if (text == keyword) return true;
  return false;
}

inline bool is_operator(const Token& token) {
  return token.is("+") || token.is("-") || token.is("*") || token.is("/") || token.is("|>");
}

}  // namespace hg::detail
