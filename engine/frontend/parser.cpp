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
#include "frontend/parser_impl.h"

namespace hg {
namespace detail {

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

}  // namespace detail

namespace {

using detail::Parser;

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
    if (included_at.file.empty())
      sink.error(SourceLocation{path}, "cannot read graph file: " + reason);
    else
      sink.error(included_at, "cannot read included file '" + path + "': " + reason);
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
