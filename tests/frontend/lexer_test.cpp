// The lexer: token kinds and spellings, number and string values, 1-based byte columns, line breaks
// (LF, CRLF, missing final one), and lexical errors turned into Invalid tokens with exact messages.
#include <doctest/doctest.h>

#include "frontend/lexer.h"

using namespace hg;

namespace {

// "kind:text" for each token, to compare a whole stream at once.
std::vector<std::string> kinds_and_texts(const std::string& text) {
  static const char* const names[] = {"name", "number", "string", "punct", "newline", "end", "invalid"};
  std::vector<std::string> out;
  for (const Token& token : tokenize("t.graph", text))
    out.push_back(std::string(names[static_cast<int>(token.kind)]) + ":" + token.text);
  return out;
}

// The only token before the trailing Newline/End of a one-token text.
Token single(const std::string& text) {
  const std::vector<Token> tokens = tokenize("t.graph", text);
  REQUIRE(tokens.size() == 3);
  return tokens[0];
}

}  // namespace

TEST_CASE("lexer: names, dotted names, numbers, strings and every punctuation") {
  CHECK(kinds_and_texts("loss = loss.bce(r, x) + 1e-4 * _w2") ==
        std::vector<std::string>{"name:loss", "punct:=", "name:loss.bce", "punct:(", "name:r", "punct:,",
                                 "name:x", "punct:)", "punct:+", "number:1e-4", "punct:*", "name:_w2",
                                 "newline:", "end:"});
  CHECK(kinds_and_texts("( ) [ ] { } , : + - * / = <- |>") ==
        std::vector<std::string>{"punct:(", "punct:)", "punct:[", "punct:]", "punct:{", "punct:}", "punct:,",
                                 "punct::", "punct:+", "punct:-", "punct:*", "punct:/", "punct:=", "punct:<-",
                                 "punct:|>", "newline:", "end:"});
  CHECK(kinds_and_texts("a<-b|>c") ==
        std::vector<std::string>{"name:a", "punct:<-", "name:b", "punct:|>", "name:c", "newline:", "end:"});
}

TEST_CASE("lexer: number values, including exponents") {
  CHECK(single("42").number == 42);
  CHECK(single("0.5").number == 0.5);
  CHECK(single("1e-4").number == doctest::Approx(0.0001));
  CHECK(single("3.5E+2").number == 350);
  CHECK(single("2e3").number == 2000);
  CHECK(kinds_and_texts("3-4") ==
        std::vector<std::string>{"number:3", "punct:-", "number:4", "newline:", "end:"});
}

TEST_CASE("lexer: strings resolve \\\" and \\\\ and keep everything else, even non-ASCII") {
  const Token token = single(R"("a\"b\\c d")");
  CHECK(token.kind == TokenKind::String);
  CHECK(token.value == "a\"b\\c d");
  CHECK(token.text == R"("a\"b\\c d")");
  CHECK(single("\"caf\xc3\xa9 \x01\"").value == "caf\xc3\xa9 \x01");
  CHECK(single("\"\"").value.empty());
}

TEST_CASE("lexer: comments run to the end of the line") {
  CHECK(kinds_and_texts("a # b = c $ \"\n# whole line\nd") ==
        std::vector<std::string>{"name:a", "newline:", "newline:", "name:d", "newline:", "end:"});
}

TEST_CASE("lexer: lines and byte columns are 1-based, a tab is one column") {
  const std::vector<Token> tokens = tokenize("t.graph", "a = 1\n\tbb\t= \"s\"\n");
  REQUIRE(tokens.size() == 9);
  CHECK(tokens[0].location.str() == "t.graph:1:1");
  CHECK(tokens[2].location.str() == "t.graph:1:5");
  CHECK(tokens[4].location.str() == "t.graph:2:2");  // bb
  CHECK(tokens[5].location.str() == "t.graph:2:5");  // =
  CHECK(tokens[6].location.str() == "t.graph:2:7");  // "s"
  CHECK(tokens[8].kind == TokenKind::End);
  CHECK(tokens[8].location.str() == "t.graph:3:1");
}

TEST_CASE("lexer: a line break sits just after the line's last token, ignoring spaces and comments") {
  const std::vector<Token> tokens = tokenize("t.graph", "f(x   # note\n\n");
  REQUIRE(tokens.size() == 6);
  CHECK(tokens[3].kind == TokenKind::Newline);
  CHECK(tokens[3].location.str() == "t.graph:1:4");
  CHECK(tokens[4].location.str() == "t.graph:2:1");  // an empty line
}

TEST_CASE("lexer: CRLF is one line break, and a missing final line break is supplied") {
  CHECK(kinds_and_texts("a\r\nb\r\n") ==
        std::vector<std::string>{"name:a", "newline:", "name:b", "newline:", "end:"});
  const std::vector<Token> tokens = tokenize("t.graph", "a\r\nbc");
  REQUIRE(tokens.size() == 5);
  CHECK(tokens[2].location.str() == "t.graph:2:1");
  CHECK(tokens[3].kind == TokenKind::Newline);
  CHECK(tokens[3].location.str() == "t.graph:2:3");
  CHECK(tokens[4].location.str() == "t.graph:2:3");
}

TEST_CASE("lexer: empty and blank texts") {
  CHECK(kinds_and_texts("") == std::vector<std::string>{"end:"});
  CHECK(kinds_and_texts("   \t ") == std::vector<std::string>{"end:"});
  CHECK(kinds_and_texts("# only a comment") == std::vector<std::string>{"end:"});
  CHECK(kinds_and_texts("\n\n") == std::vector<std::string>{"newline:", "newline:", "end:"});
}

TEST_CASE("lexer: lexical errors become Invalid tokens with their message") {
  struct Case {
    std::string text;
    const char* message;
    int column;
  };
  const Case cases[] = {
      {"$", "unexpected character '$'", 1},
      {"  <", "unexpected character '<' (did you mean '<-'?)", 3},
      {"|", "unexpected character '|' (did you mean '|>'?)", 1},
      {"'", "unexpected character ''' (strings use double quotes)", 1},
      {";", "unexpected character ';' (a statement ends at the end of its line)", 1},
      {".5", "unexpected character '.' (write a leading zero, as in 0.5)", 1},
      {"\"abc", "unterminated string", 1},
      {" \"ab\\\"", "unterminated string", 2},
      {"\"C:\\data\"", "unknown escape '\\d' in string (only \\\" and \\\\ are allowed)", 4},
      {"1e", "malformed number '1e'", 1},
      {"1.", "malformed number '1.'", 1},
      {"3x", "malformed number '3x'", 1},
      {"0x1F", "malformed number '0x1F'", 1},
      {"1e999", "number 1e999 is out of range", 1},
      {"a.", "malformed name 'a.': each part after '.' must start with a letter or '_'", 1},
      {"a..b", "malformed name 'a..b': each part after '.' must start with a letter or '_'", 1},
      {"a.1", "malformed name 'a.1': each part after '.' must start with a letter or '_'", 1},
      {std::string(1, '\0'), "unexpected byte 0x00", 1},
      {"\x7f", "unexpected byte 0x7f", 1},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    const Token token = tokenize("t.graph", c.text).front();
    CHECK(token.kind == TokenKind::Invalid);
    CHECK(token.value == c.message);
    CHECK(token.location.line == 1);
    CHECK(token.location.column == c.column);
  }
}

TEST_CASE("lexer: a run of non-ASCII bytes is one Invalid token") {
  const std::vector<Token> tokens = tokenize("t.graph", "a\xc3\xa9\xff b");
  REQUIRE(tokens.size() == 5);
  CHECK(tokens[1].kind == TokenKind::Invalid);
  CHECK(tokens[1].value == "unexpected byte 0xc3 (only ASCII is allowed outside strings and comments)");
  CHECK(tokens[2].text == "b");
}

TEST_CASE("lexer: an unterminated string stops at its line, so the next line lexes normally") {
  CHECK(kinds_and_texts("s = \"abc\nt") == std::vector<std::string>{"name:s", "punct:=", "invalid:\"abc",
                                                                    "newline:", "name:t",
                                                                    "newline:", "end:"});
}

TEST_CASE("lexer: describe names found tokens the way error messages quote them") {
  const std::vector<Token> tokens = tokenize("t.graph", "h <- 3.5 \"s\"");
  REQUIRE(tokens.size() == 6);
  CHECK(describe(tokens[0]) == "'h'");
  CHECK(describe(tokens[1]) == "'<-'");
  CHECK(describe(tokens[2]) == "number 3.5");
  CHECK(describe(tokens[3]) == "string \"s\"");
  CHECK(describe(tokens[4]) == "end of line");
  CHECK(describe(tokens[5]) == "end of file");
  CHECK(describe(single("\"" + std::string(40, 'a') + "\"")) == "string \"" + std::string(27, 'a') + "...\"");
}
