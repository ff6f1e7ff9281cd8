// No input crashes or hangs the frontend: random bytes, random token soup, small mutations and every
// truncation of a valid file. Beyond surviving, each run must give well-placed, ordered diagnostics, and
// any clean parse must render to text that parses back identically.
#include <doctest/doctest.h>

#include <random>

#include "frontend/parser.h"

using namespace hg;

namespace {

const std::string kValid =
    "# a small autoencoder\n"
    "data mnist = idx(images=\"train-images.idx\", labels=\"train-labels.idx\", scale=1/255)\n"
    "input x : [784] <- image\n"
    "code = x |> dense(32) |> relu\n"
    "r = dense(code, 784, tied=code.weights) |> sigmoid\n"
    "loss = loss.bce(r, x) + 1e-4 * reg.l2(code.weights)\n"
    "train {\n"
    "  optimizer = sgd(lr=0.1, momentum=0.9), batch = 128\n"
    "  epochs = -(-15)\n"
    "}\n";

int count_lines(const std::string& text) {
  int lines = 1;
  for (char c : text) lines += c == '\n';
  return lines;
}

// Re-renders every value of a clean program as its own statement and parses that again.
void check_round_trip(const ast::Program& program) {
  std::string text;
  for (const ast::Statement& s : program.statements) {
    if (s.value) text += "v = " + ast::to_string(*s.value) + "\n";
    for (const ast::Arg& setting : s.settings) text += "v = " + ast::to_string(*setting.value) + "\n";
  }
  DiagnosticSink sink;
  const ast::Program again = parse_graph("again.graph", text, sink);
  CHECK_MESSAGE(!sink.has_errors(), text);
  std::string text_again;
  for (const ast::Statement& s : again.statements) text_again += "v = " + ast::to_string(*s.value) + "\n";
  CHECK(text_again == text);
}

// Parses `text` and checks what must hold for any input at all.
void check_survives(const std::string& text) {
  DiagnosticSink sink;
  const ast::Program program = parse_graph("f.graph", text, sink);
  const int lines = count_lines(text);
  SourceLocation last{"f.graph", 1, 1};
  for (const Diagnostic& d : sink.diagnostics()) {
    CHECK(d.where.file == "f.graph");
    CHECK(d.where.line >= 1);
    CHECK(d.where.line <= lines);
    CHECK(d.where.column >= 1);
    CHECK(!d.message.empty());
    const bool in_order =
        d.where.line > last.line || (d.where.line == last.line && d.where.column >= last.column);
    CHECK_MESSAGE(in_order, d.str());
    last = d.where;
  }
  if (!sink.has_errors()) check_round_trip(program);
}

}  // namespace

TEST_CASE("robustness: the valid file itself parses cleanly") {
  DiagnosticSink sink;
  const ast::Program program = parse_graph("f.graph", kValid, sink);
  CHECK_FALSE(sink.has_errors());
  CHECK(program.statements.size() == 6);
  check_round_trip(program);
}

TEST_CASE("robustness: every truncation of a valid file") {
  for (size_t length = 0; length <= kValid.size(); ++length) {
    const std::string prefix = kValid.substr(0, length);
    CAPTURE(prefix);
    check_survives(prefix);
    // Cut at a line break before the train block, a prefix is itself a valid file.
    if (length > 0 && kValid[length - 1] == '\n' && prefix.find("train") == std::string::npos) {
      DiagnosticSink sink;
      parse_graph("f.graph", prefix, sink);
      CHECK_FALSE(sink.has_errors());
    }
  }
}

TEST_CASE("robustness: random bytes") {
  std::mt19937 random(12345);
  const std::string alphabet = "abxy_.019eE ()[]{},:+-*/=<>|\"\\#\n\r\t$";
  for (int round = 0; round < 3000; ++round) {
    std::string text(random() % 120, ' ');
    for (char& c : text)
      c = random() % 2 ? alphabet[random() % alphabet.size()] : static_cast<char>(random() % 256);
    CAPTURE(round);
    check_survives(text);
  }
}

TEST_CASE("robustness: random token soup") {
  const char* const pieces[] = {
      "data ", "input ", "train ", "h ", "loss.bce ", "x",    "= ",    "=", "(",      ")",  "[",
      "]",     "{",      "}",      ", ", ": ",        "+",    "-",     "*", "/",      "<-", "|>",
      "784 ",  "1e-4",   "\"s\"",  "\n", "\n",        "\r\n", "# c\n", " ", "\"open", "$",  "1/255"};
  std::mt19937 random(777);
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    for (int n = random() % 40; n > 0; --n) text += pieces[random() % std::size(pieces)];
    CAPTURE(text);
    check_survives(text);
  }
}

TEST_CASE("robustness: small mutations of a valid file") {
  std::mt19937 random(2024);
  for (int round = 0; round < 2000; ++round) {
    std::string text = kValid;
    for (int edits = 1 + random() % 3; edits > 0; --edits) {
      const size_t at = random() % text.size();
      switch (random() % 3) {
        case 0:
          text.erase(at, 1);
          break;
        case 1:
          text.insert(at, 1, "()[]{}=,\n\"|<-+"[random() % 15]);
          break;
        default:
          text[at] = static_cast<char>(random() % 256);
      }
    }
    CAPTURE(text);
    check_survives(text);
  }
}

TEST_CASE("robustness: huge flat input finishes") {
  std::string text;
  for (int i = 0; i < 20000; ++i)
    text += "h" + std::to_string(i) + " = f(x, k=" + std::to_string(i) + ") $\n";
  DiagnosticSink sink;
  parse_graph("f.graph", text, sink);
  CHECK(sink.diagnostics().size() == 20000);
}
