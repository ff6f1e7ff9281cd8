// Splits a graph file into tokens for the parser. A lexical mistake does not stop the lexer: it becomes an
// Invalid token carrying its message, so the parser reports it in file order with its own errors and
// resynchronizes after it the same way.
#pragma once

#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg {

enum class TokenKind { Name, Number, String, Punct, Newline, End, Invalid };

struct Token {
  TokenKind kind = TokenKind::End;
  std::string text;         // the spelling as written; Punct: the punctuation itself, e.g. "<-"
  std::string value;        // String: the contents with escapes resolved; Invalid: the error message
  double number = 0;        // Number
  SourceLocation location;  // first byte; for Newline, just after the last token on its line

  bool is(const char* punct) const { return kind == TokenKind::Punct && text == punct; }
};

// Every line break is a Newline token (the parser decides which ones end a statement). The result always
// ends with End, and the token before End, if any, is a Newline, even when the text lacks a final one.
std::vector<Token> tokenize(const std::string& file, const std::string& text);

// How an error message names a token it found: 'h', '<-', number 3, string "a.idx", end of line, end of file.
std::string describe(const Token& token);

}  // namespace hg
