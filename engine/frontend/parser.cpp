// Recursive-descent parser for graph files (grammar in ast.h). A syntax error is reported once, unwinds to
// the statement (or train setting) being parsed, and parsing resumes at the next line that is not inside a
// bracket opened by the broken code, so one run reports every broken line.
#include "frontend/parser.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "frontend/lexer.h"

namespace hg {
namespace {

using ast::Expr;
using ast::ExprPtr;

// Deeper expressions are refused so that neither this parser nor the passes walking the tree can exhaust
// the stack; a long chain like 1+1+...+1 also counts, since it builds a tree that deep.
constexpr int kMaxNesting = 200;
constexpr double kMaxDimension = 2147483647;

// Thrown after an error has been reported, to unwind to a place that can resynchronize.
struct SyntaxError {};

std::string line_column(const SourceLocation& where) {
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

ExprPtr make_expr(Expr::Kind kind, SourceLocation where) {
  auto expr = std::make_unique<Expr>();
  expr->kind = kind;
  expr->location = std::move(where);
  return expr;
}

ExprPtr make_binary(char op, const SourceLocation& start, ExprPtr lhs, ExprPtr rhs) {
  ExprPtr expr = make_expr(Expr::Kind::Binary, start);
  expr->op = op;
  expr->lhs = std::move(lhs);
  expr->rhs = std::move(rhs);
  return expr;
}

ExprPtr make_call(const Token& callee, std::vector<ast::Arg> args) {
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

bool is_statement_keyword(const std::string& text) {
  for (const char* keyword : {"data", "input", "train", "include", "def", "freeze", "lr_mult"})
    if (text == keyword) return true;
  return false;
}

bool is_operator(const Token& token) {
  return token.is("+") || token.is("-") || token.is("*") || token.is("/") || token.is("|>");
}

// ---- token stream ----

const Token& Parser::peek() {
  if (brackets_ > 0)
    while (tokens_[pos_].kind == TokenKind::Newline) ++pos_;  // never runs off: the last token is End
  return tokens_[pos_];
}

const Token& Parser::peek_second() {
  if (peek().kind == TokenKind::End) return tokens_[pos_];
  size_t i = pos_ + 1;
  if (brackets_ > 0)
    while (tokens_[i].kind == TokenKind::Newline) ++i;
  return tokens_[i];
}

// The last token before the current one that is not a line break, to say what an error came after.
const Token& Parser::previous() const {
  size_t i = pos_;
  while (i > 0 && tokens_[i - 1].kind == TokenKind::Newline) --i;
  return tokens_[i > 0 ? i - 1 : 0];
}

const Token& Parser::take() {
  const Token& token = peek();
  if (token.kind != TokenKind::End) ++pos_;
  return token;
}

bool Parser::accept(const char* punct) {
  if (!peek().is(punct)) return false;
  take();
  return true;
}

const Token& Parser::expect(const char* punct, const std::string& expected) {
  if (!peek().is(punct)) fail(expected);
  return take();
}

// Like expect, but when line breaks were skipped to get here the construct most likely ran off the end of
// its line, so the error is reported there and recovery restarts at that line break.
const Token& Parser::expect_closing(const char* punct, const std::string& expected) {
  if (peek().is(punct)) return take();
  size_t line_end = pos_;
  while (line_end > 0 && tokens_[line_end - 1].kind == TokenKind::Newline) --line_end;
  if (line_end == pos_) fail(expected);
  // The bracket is taken to be missing, so recovery treats that line break as the end of the statement.
  fail_with(tokens_[line_end].location, "expected " + expected + ", found end of line", line_end, 0);
}

const Token& Parser::expect_name(const std::string& expected) {
  if (peek().kind != TokenKind::Name) fail(expected);
  return take();
}

void Parser::skip_line_breaks() {
  while (peek().kind == TokenKind::Newline) take();
}

// 'data x', 'input x' or 'train {' at the start of a line ('data = 1' would be a setting named data).
bool Parser::starts_keyword_statement(const Token& token) {
  const bool keyword = is_statement_keyword(token.text);
  return token.kind == TokenKind::Name && keyword && tokens_[pos_ - 1].kind == TokenKind::Newline &&
         !peek_second().is("=");
}

// ---- errors and recovery ----

// Reports `message` at `where` and unwinds; recovery starts at token `resume_at` with `open_brackets` open.
void Parser::fail_with(const SourceLocation& where, const std::string& message, size_t resume_at,
                       int open_brackets) {
  sink_.error(where, message);
  resume_at_ = resume_at;
  resume_brackets_ = open_brackets;
  throw SyntaxError{};
}

void Parser::fail_at(size_t index, const std::string& message) {
  fail_with(tokens_[index].location, message, index, brackets_);
}

// Reports "expected X, found Y" at the current token; a lexical error found there is reported instead.
void Parser::fail(const std::string& expected) {
  const Token& found = peek();
  if (found.kind == TokenKind::Invalid) fail_at(pos_, found.value);
  fail_at(pos_, "expected " + expected + ", found " + describe(found));
}

// Skips to the line break that ends the broken code: the first one outside the brackets still open at the
// error. In a train block it also stops at a '}' (settings hold no braces), which closes the block.
void Parser::recover(bool inside_train_block) {
  pos_ = resume_at_;
  for (int depth = resume_brackets_;; ++pos_) {
    const Token& token = tokens_[pos_];
    if (token.kind == TokenKind::End || (token.kind == TokenKind::Newline && depth == 0)) return;
    if (inside_train_block && token.is("}")) return;
    if (token.is("(") || token.is("[") || token.is("{")) ++depth;
    if ((token.is(")") || token.is("]") || token.is("}")) && depth > 0) --depth;
  }
}

// A line ending in an operator is a common slip (outside brackets a line break ends the statement), so
// that case says how to continue a line.
void Parser::fail_expression() {
  const Token& after = previous();
  if (peek().kind != TokenKind::Newline || !is_operator(after))
    fail("an expression after " + describe(after));
  fail_at(pos_, "expected an expression after " + describe(after) +
                    ", found end of line (to continue on the next line, put the expression in parentheses)");
}

void Parser::deeper() {
  if (++nesting_ > kMaxNesting)
    fail_at(pos_, "expression nested too deeply (more than " + std::to_string(kMaxNesting) + " levels)");
}

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

ast::Statement Parser::parse_data() {
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Data;
  statement.location = take().location;
  const Token& name = expect_name("a name after 'data'");
  statement.name = name.text;
  statement.name_location = name.location;
  expect("=", "'=' after '" + name.text + "'");
  statement.value = parse_expr();
  expect_statement_end("an operator or end of line");
  return statement;
}

ast::Statement Parser::parse_input() {
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Input;
  statement.location = take().location;
  const Token& name = expect_name("a name after 'input'");
  statement.name = name.text;
  statement.name_location = name.location;
  expect(":", "':' after '" + name.text + "'");
  statement.shape_location = peek().location;
  statement.shape = parse_shape(name.text);
  expect("<-", "'<-' after the shape of '" + name.text + "'");
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
  ast::Statement statement;
  statement.kind = ast::Statement::Kind::Def;
  statement.location = take().location;
  const Token& name = expect_name("a template name after 'def'");
  statement.name = name.text;
  statement.name_location = name.location;
  const Token& open = expect("(", "'(' and the parameters of '" + name.text + "'");
  {
    BracketScope scope(brackets_);
    if (!peek().is(")")) {
      do {
        const Token& param = expect_name("a parameter name");
        statement.params.push_back(param.text);
        statement.param_locations.push_back(param.location);
      } while (accept(","));
    }
    expect_closing(")", "')' to close the parameters of '" + name.text + "' at " + line_column(open.location));
  }
  expect("=", "'=' after the parameters of '" + name.text + "'");
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

// Reads the whole file; on failure errno says why.
bool read_whole_file(const std::string& path, std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (!file) return false;
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  const bool ok = !std::ferror(file);
  const int saved_errno = errno;
  std::fclose(file);
  errno = saved_errno;
  return ok;
}

}  // namespace

ast::Program parse_graph(const std::string& file, const std::string& text, DiagnosticSink& sink) {
  ast::Program program = Parser(tokenize(file, text), sink).parse_program(file);
  program.source_text = text;
  return program;
}

namespace {

std::string directory_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

// Parses `path` and splices in the statements of the files it includes (paths relative to the including
// file). `stack` holds the files being read, to refuse an include cycle.
ast::Program parse_with_includes(const std::string& path, const SourceLocation& included_at,
                                 std::vector<std::string>& stack, DiagnosticSink& sink) {
  ast::Program expanded;
  expanded.file = path;
  std::string text;
  errno = 0;
  if (!read_whole_file(path, text)) {
    const std::string reason = std::strerror(errno);
    if (included_at.file.empty()) sink.error(SourceLocation{path}, "cannot read graph file: " + reason);
    else sink.error(included_at, "cannot read included file '" + path + "': " + reason);
    return expanded;
  }
  ast::Program program = parse_graph(path, text, sink);
  expanded.source_text = text;
  stack.push_back(path);
  for (ast::Statement& statement : program.statements) {
    if (statement.kind != ast::Statement::Kind::Include) {
      expanded.statements.push_back(std::move(statement));
      continue;
    }
    const std::string target = statement.source.empty() || statement.source[0] == '/'
                                    ? statement.source
                                    : directory_of(path) + statement.source;
    if (std::find(stack.begin(), stack.end(), target) != stack.end() || stack.size() > 32) {
      std::string chain;
      for (const std::string& file : stack) chain += file + " -> ";
      sink.error(statement.source_location, "include cycle: " + chain + target);
      continue;
    }
    ast::Program inner = parse_with_includes(target, statement.source_location, stack, sink);
    expanded.source_text += inner.source_text;
    for (ast::Statement& s : inner.statements) expanded.statements.push_back(std::move(s));
  }
  stack.pop_back();
  return expanded;
}

}  // namespace

ast::Program parse_graph_file(const std::string& path, DiagnosticSink& sink) {
  std::vector<std::string> stack;
  return parse_with_includes(path, SourceLocation{}, stack, sink);
}

}  // namespace hg
