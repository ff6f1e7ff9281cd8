// The graph-file lexer: names, numbers, strings, punctuation and line breaks, with 1-based line and byte
// columns. It never fails: bad input becomes Invalid tokens (see lexer.h), and any byte sequence, NULs and
// non-UTF-8 included, produces a finite token list.
#include "frontend/lexer.h"

#include <charconv>
#include <cstdio>
#include <system_error>

namespace hg {
namespace {

// ASCII-only classification: <cctype> would follow the C locale and treat bytes >= 0x80 unpredictably.
bool is_letter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_word(char c) {
  return is_letter(c) || is_digit(c);
}

std::string hex_byte(char c) {
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "0x%02x", static_cast<unsigned char>(c));
  return buffer;
}

// Shows a byte inside a quoted message: printable ASCII as itself, anything else as \xNN.
std::string printable(const std::string& text) {
  std::string out;
  for (char c : text) out += (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "\\x" + hex_byte(c).substr(2);
  return out;
}

// digits [ '.' digits ] [ ('e' | 'E') [ '+' | '-' ] digits ]
bool is_well_formed_number(const std::string& s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return i > start;
  };
  if (!digits()) return false;
  if (i < s.size() && s[i] == '.' && (++i, !digits())) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

// A hint for characters people type by habit from other languages.
std::string hint_for(char c, char next) {
  switch (c) {
    case '<':
      return " (did you mean '<-'?)";
    case '|':
      return " (did you mean '|>'?)";
    case '\'':
      return " (strings use double quotes)";
    case ';':
      return " (a statement ends at the end of its line)";
    case '.':
      return is_digit(next) ? " (write a leading zero, as in 0.5)" : "";
    default:
      return "";
  }
}

class Lexer {
 public:
  Lexer(const std::string& file, const std::string& text) : file_(file), text_(text) {}
  std::vector<Token> run();

 private:
  char at(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  bool at_line_break() const { return at() == '\n' || (at() == '\r' && at(1) == '\n'); }
  SourceLocation location_of(size_t offset) const;
  void emit(TokenKind kind, size_t start, std::string value = "", double number = 0);
  void emit_invalid(size_t start, size_t blamed, std::string message);
  void lex_line_break();
  void lex_token();
  void lex_name();
  void lex_number();
  void lex_string();
  void lex_punct_or_invalid();
  void finish();

  const std::string& file_;
  const std::string& text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;  // offset of the current line's first byte
  size_t line_tail_ = 0;   // offset just after the last token on the current line
};

std::vector<Token> Lexer::run() {
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (at_line_break()) {
      lex_line_break();
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
      ++pos_;
    } else if (c == '#') {
      while (pos_ < text_.size() && !at_line_break()) ++pos_;
    } else {
      lex_token();
    }
  }
  finish();
  return std::move(tokens_);
}

SourceLocation Lexer::location_of(size_t offset) const {
  return SourceLocation{file_, line_, static_cast<int>(offset - line_start_ + 1)};
}

// Emits the token spanning [start, pos_).
void Lexer::emit(TokenKind kind, size_t start, std::string value, double number) {
  tokens_.push_back({kind, text_.substr(start, pos_ - start), std::move(value), number, location_of(start)});
  line_tail_ = pos_;
}

// Emits an Invalid token spanning [start, pos_) whose error points at `blamed`.
void Lexer::emit_invalid(size_t start, size_t blamed, std::string message) {
  emit(TokenKind::Invalid, start, std::move(message));
  tokens_.back().location = location_of(blamed);
}

// The Newline sits just after the line's last token, where an error about a missing ')' belongs.
void Lexer::lex_line_break() {
  tokens_.push_back({TokenKind::Newline, "", "", 0, location_of(line_tail_)});
  pos_ += at() == '\r' ? 2 : 1;
  ++line_;
  line_start_ = line_tail_ = pos_;
}

void Lexer::lex_token() {
  const char c = at();
  if (is_letter(c)) return lex_name();
  if (is_digit(c)) return lex_number();
  if (c == '"') return lex_string();
  lex_punct_or_invalid();
}

// NAME { '.' NAME }: a dot must join two parts, so "a." and "a.1" are errors rather than two tokens.
void Lexer::lex_name() {
  const size_t start = pos_;
  while (is_word(at())) ++pos_;
  while (at() == '.') {
    if (!is_letter(at(1))) {
      for (++pos_; is_word(at()) || at() == '.';) ++pos_;
      const std::string spelling = text_.substr(start, pos_ - start);
      return emit_invalid(start, start,
                          "malformed name '" + printable(spelling) +
                              "': each part after '.' must start with a letter or '_'");
    }
    for (++pos_; is_word(at());) ++pos_;
  }
  emit(TokenKind::Name, start);
}

// Takes the whole run a reader would see as one word ("3x", "1e", "0x10") so that it is reported once.
void Lexer::lex_number() {
  const size_t start = pos_;
  for (char previous = 0; is_word(at()) || at() == '.' ||
                          ((at() == '+' || at() == '-') && (previous == 'e' || previous == 'E'));) {
    previous = at();
    ++pos_;
  }
  const std::string spelling = text_.substr(start, pos_ - start);
  if (!is_well_formed_number(spelling))
    return emit_invalid(start, start, "malformed number '" + printable(spelling) + "'");
  double number = 0;
  const auto result = std::from_chars(spelling.data(), spelling.data() + spelling.size(), number);
  if (result.ec != std::errc()) return emit_invalid(start, start, "number " + spelling + " is out of range");
  emit(TokenKind::Number, start, "", number);
}

// A string ends on its own line; only \" and \\ are escapes, so Windows paths fail loudly, not silently.
void Lexer::lex_string() {
  const size_t start = pos_++;
  std::string value;
  size_t bad_escape = std::string::npos;
  while (pos_ < text_.size() && !at_line_break()) {
    const char c = at();
    if (c == '"') {
      ++pos_;
      if (bad_escape == std::string::npos) return emit(TokenKind::String, start, std::move(value));
      const std::string escape = printable(text_.substr(bad_escape, 2));
      return emit_invalid(start, bad_escape,
                          "unknown escape '" + escape + "' in string (only \\\" and \\\\ are allowed)");
    }
    if (c == '\\' && (at(1) == '"' || at(1) == '\\')) {
      value += at(1);
      pos_ += 2;
      continue;
    }
    if (c == '\\' && bad_escape == std::string::npos && at(1) != '\n' && at(1) != '\r') bad_escape = pos_;
    value += c;
    ++pos_;
  }
  emit_invalid(start, start, "unterminated string");
}

void Lexer::lex_punct_or_invalid() {
  const size_t start = pos_;
  const char c = at();
  if ((c == '<' && at(1) == '-') || (c == '|' && at(1) == '>')) {
    pos_ += 2;
    return emit(TokenKind::Punct, start);
  }
  if (std::string("()[]{},:+-*/=").find(c) != std::string::npos) {
    ++pos_;
    return emit(TokenKind::Punct, start);
  }
  if (static_cast<unsigned char>(c) >= 0x80) {  // one report for a whole UTF-8 sequence
    while (static_cast<unsigned char>(at()) >= 0x80) ++pos_;
    return emit_invalid(
        start, start,
        "unexpected byte " + hex_byte(c) + " (only ASCII is allowed outside strings and comments)");
  }
  ++pos_;
  if (c > 0x20 && c < 0x7f)
    return emit_invalid(start, start, std::string("unexpected character '") + c + "'" + hint_for(c, at()));
  emit_invalid(start, start, "unexpected byte " + hex_byte(c));
}

void Lexer::finish() {
  if (!tokens_.empty() && tokens_.back().kind != TokenKind::Newline)
    tokens_.push_back({TokenKind::Newline, "", "", 0, location_of(line_tail_)});
  tokens_.push_back({TokenKind::End, "", "", 0, location_of(pos_)});
}

}  // namespace

std::vector<Token> tokenize(const std::string& file, const std::string& text) {
  return Lexer(file, text).run();
}

std::string describe(const Token& token) {
  switch (token.kind) {
    case TokenKind::Number:
      return "number " + token.text;
    case TokenKind::String:
      return "string " + (token.text.size() <= 32 ? token.text : token.text.substr(0, 28) + "...\"");
    case TokenKind::Newline:
      return "end of line";
    case TokenKind::End:
      return "end of file";
    default:
      return "'" + printable(token.text) + "'";
  }
}

}  // namespace hg
