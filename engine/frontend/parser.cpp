// Recursive-descent parser for graph files (grammar in ast.h). A syntax error is reported once, unwinds to
// the statement (or train setting) being parsed, and parsing resumes at the next line that is not inside a
// bracket opened by the broken code, so one run reports every broken line.
#include "frontend/parser.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>

#include "frontend/lexer.h"
#include "frontend/parser_impl.h"
#include "support/memory_budget.h"

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

// Reads a whole regular file of at most `limit` bytes. Anything else (a device such as /dev/zero, a FIFO
// that never ends, a folder) is refused before a byte is read, because its size says nothing about how
// much it yields. On failure `reason` says why; `identity` is the file's (device, inode), which names it
// however the path spells it.
bool read_regular_file(const std::string& path, uint64_t limit, std::string& text, std::string& reason,
                       std::pair<uint64_t, uint64_t>& identity, bool& too_big) {
  too_big = false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);  // a FIFO must not block open
  if (fd < 0) {
    reason = std::strerror(errno);
    return false;
  }
  struct stat info {};
  bool ok = ::fstat(fd, &info) == 0;
  if (!ok) {
    reason = std::strerror(errno);
  } else if (S_ISDIR(info.st_mode)) {
    reason = std::strerror(EISDIR);
    ok = false;
  } else if (!S_ISREG(info.st_mode)) {
    reason = "not a regular file";
    ok = false;
  } else if (uint64_t(info.st_size) > limit) {
    reason = "it is " + std::to_string(info.st_size) + " bytes, more than the " + std::to_string(limit) +
             " left of the " + std::to_string(kMaxGraphTextBytes) +
             "-byte limit on a graph with its includes";
    ok = false;
    too_big = true;
  } else if (std::optional<std::string> refusal = memory_refusal(
                 double(info.st_size), "its " + std::to_string(info.st_size) + " bytes of text need")) {
    reason = *refusal;
    ok = false;
    too_big = true;
  }
  identity = {uint64_t(info.st_dev), uint64_t(info.st_ino)};
  char buffer[1 << 16];
  while (ok) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      reason = std::strerror(errno);
      ok = false;
    } else if (n == 0) {
      break;
    } else if (text.size() + size_t(n) > limit) {  // the file grew while being read
      reason = "it grew past the " + std::to_string(kMaxGraphTextBytes) + "-byte limit while being read";
      ok = false;
      too_big = true;
    } else {
      text.append(buffer, size_t(n));
    }
  }
  ::close(fd);
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

// What one expansion of a graph file has used so far. Sizes, not just depth, are bounded: a file that
// includes another twice, which includes a third twice, and so on, stays shallow but grows exponentially.
struct IncludeBudget {
  struct Open {
    std::string path;
    std::pair<uint64_t, uint64_t> identity;  // (device, inode): './x.graph' and 'x.graph' are one file
  };
  std::vector<Open> stack;  // the files being read, outermost first
  uint64_t bytes = 0;       // text read so far, every copy of a file counted
  int includes = 0;         // include statements followed so far
  bool exhausted = false;   // a limit was hit and reported: later includes are skipped without a word
};

std::string include_chain(const IncludeBudget& budget, const std::string& last) {
  std::string chain;
  for (const IncludeBudget::Open& file : budget.stack) chain += file.path + " -> ";
  return chain + last;
}

// Why `target`, named by the include at `where`, must not be read, or "" when it may.
std::string include_refusal(const IncludeBudget& budget, const std::string& target) {
  if (budget.stack.size() >= size_t(kMaxIncludeDepth))
    return "includes nested more than " + std::to_string(kMaxIncludeDepth) +
           " files deep: " + include_chain(budget, target);
  if (budget.includes >= kMaxIncludes)
    return "more than " + std::to_string(kMaxIncludes) +
           " includes in one graph (every time a file is included counts): '" + target + "' is one too many";
  return "";
}

// Parses `path` and splices in the statements of the files it includes (paths relative to the including
// file), within the limits of `budget`.
ast::Program parse_with_includes(const std::string& path, const SourceLocation& included_at,
                                 IncludeBudget& budget, DiagnosticSink& sink) {
  ast::Program expanded;
  expanded.file = path;
  std::string text, reason;
  std::pair<uint64_t, uint64_t> identity;
  bool too_big = false;
  if (!read_regular_file(path, kMaxGraphTextBytes - budget.bytes, text, reason, identity, too_big)) {
    if (included_at.file.empty())
      sink.error(SourceLocation{path}, "cannot read graph file: " + reason);
    else
      sink.error(included_at, "cannot read included file '" + path + "': " + reason);
    budget.exhausted = too_big;  // nothing more fits, so every further include would say the same
    return expanded;
  }
  for (const IncludeBudget::Open& open : budget.stack)
    if (open.identity == identity) {
      sink.error(included_at, "include cycle: " + include_chain(budget, path));
      return expanded;
    }
  budget.bytes += text.size();
  ast::Program program = parse_graph(path, text, sink);
  expanded.source_text = text;
  budget.stack.push_back({path, identity});
  for (ast::Statement& statement : program.statements) {
    if (statement.kind != ast::Statement::Kind::Include) {
      expanded.statements.push_back(std::move(statement));
      continue;
    }
    if (budget.exhausted) continue;
    const std::string target = statement.source.empty() || statement.source[0] == '/'
                                   ? statement.source
                                   : directory_of(path) + statement.source;
    if (const std::string refusal = include_refusal(budget, target); !refusal.empty()) {
      sink.error(statement.source_location, refusal);
      budget.exhausted = true;
      continue;
    }
    ++budget.includes;
    ast::Program inner = parse_with_includes(target, statement.source_location, budget, sink);
    expanded.source_text += inner.source_text;
    for (ast::Statement& s : inner.statements) expanded.statements.push_back(std::move(s));
  }
  budget.stack.pop_back();
  return expanded;
}

}  // namespace

ast::Program parse_graph_file(const std::string& path, DiagnosticSink& sink) {
  IncludeBudget budget;
  return parse_with_includes(path, SourceLocation{}, budget, sink);
}

}  // namespace hg
