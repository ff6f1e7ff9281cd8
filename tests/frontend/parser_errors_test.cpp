// Syntax errors: the exact text and place of each message, recovery that reports every broken line of a
// file while keeping the statements that parsed, and unreadable files.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "frontend/parser.h"
#include "max_memory_guard.h"

using namespace hg;

namespace {

struct Parsed {
  ast::Program program;
  std::vector<std::string> errors;  // each diagnostic's text without its final line break
};

Parsed parse(const std::string& text) {
  DiagnosticSink sink;
  Parsed parsed{parse_graph("g.graph", text, sink), {}};
  for (const Diagnostic& d : sink.diagnostics())
    parsed.errors.push_back(d.str().substr(0, d.str().size() - 1));
  return parsed;
}

std::vector<std::string> names_of(const ast::Program& program) {
  std::vector<std::string> names;
  for (const ast::Statement& s : program.statements)
    names.push_back(s.kind == ast::Statement::Kind::Train ? "train" : s.name);
  return names;
}

// f(f(...f(1)...)), `depth` calls deep.
std::string nested_calls(int depth) {
  std::string text = "1";
  for (int i = 0; i < depth; ++i) text = "f(" + text + ")";
  return text;
}

// Each text holds exactly one error, with this exact message.
void check_single_errors(const std::vector<std::pair<std::string, std::string>>& cases) {
  for (const auto& text_message : cases) {  // not a structured binding: CAPTURE's lambda names it
    const std::string &text = text_message.first, &message = text_message.second;
    CAPTURE(text);
    const Parsed parsed = parse(text);
    CHECK(parsed.errors == std::vector<std::string>{message});
    CHECK(parsed.program.statements.empty());
  }
}

}  // namespace

TEST_CASE("errors: statements") {
  check_single_errors({
      {"h (x)", "g.graph:1:3: error: expected '=' after 'h', found '('"},
      {") = 3", "g.graph:1:1: error: expected a statement, found ')'"},
      {"42", "g.graph:1:1: error: expected a statement, found number 42"},
      {"\"s\" = 1", "g.graph:1:1: error: expected a statement, found string \"s\""},
      {"h = x y", "g.graph:1:7: error: expected an operator or end of line, found 'y'"},
      {"h = f(x))", "g.graph:1:9: error: expected an operator or end of line, found ')'"},
      {"data = 1", "g.graph:1:6: error: expected a name after 'data', found '='"},
      {"data d idx()", "g.graph:1:8: error: expected '=' after 'd', found 'idx'"},
      {"data d =", "g.graph:1:9: error: expected an expression after '=', found end of line"},
  });
}

TEST_CASE("errors: input statements and shapes") {
  check_single_errors({
      {"input : [3] <- image", "g.graph:1:7: error: expected a name after 'input', found ':'"},
      {"input x [784]", "g.graph:1:9: error: expected ':' after 'x', found '['"},
      {"input x : 784", "g.graph:1:11: error: expected '[' to start the shape of 'x', found number 784"},
      {"input x : [784] image", "g.graph:1:17: error: expected '<-' after the shape of 'x', found 'image'"},
      {"input x : [784 10] <- image",
       "g.graph:1:16: error: expected ']' to close the shape of 'x' at 1:11, found number 10"},
      {"input x : [784\n",
       "g.graph:1:15: error: expected ']' to close the shape of 'x' at 1:11, found end of line"},
      {"input x : [784] <- 3",
       "g.graph:1:20: error: expected the name of a data field after '<-', found number 3"},
      {"input x : [784] <- image label", "g.graph:1:26: error: expected end of line, found 'label'"},
      {"input x : [] <- image",
       "g.graph:1:12: error: expected a shape dimension (a positive integer), found ']'"},
      {"input x : [n] <- image",
       "g.graph:1:12: error: expected a shape dimension (a positive integer), found 'n'"},
  });
}

TEST_CASE(
    "errors: a shape dimension that is zero, negative, fractional or huge is reported at that dimension") {
  check_single_errors({
      {"input x : [0] <- image",
       "g.graph:1:12: error: a shape dimension must be a positive integer, found 0"},
      {"input x : [28, -3] <- image",
       "g.graph:1:16: error: a shape dimension must be a positive integer, found -3"},
      {"input x : [2.5] <- image",
       "g.graph:1:12: error: a shape dimension must be a positive integer, found 2.5"},
      {"input x : [99999999999] <- image",
       "g.graph:1:12: error: a shape dimension must be at most 2147483647, found 99999999999"},
  });
}

TEST_CASE("errors: expressions and calls") {
  check_single_errors({
      {"h = dense(x, 32\n",
       "g.graph:1:16: error: expected ')' to close the call to 'dense' at 1:5, found end of line"},
      {"h = dense(x, 32   # comment",
       "g.graph:1:16: error: expected ')' to close the call to 'dense' at 1:5, found end of line"},
      {"h = f(\"abc\" \"def\")",
       "g.graph:1:13: error: expected ')' to close the call to 'f' at 1:5, found string \"def\""},
      {"h = f(1 2)", "g.graph:1:9: error: expected ')' to close the call to 'f' at 1:5, found number 2"},
      {"h = (x + 1", "g.graph:1:11: error: expected ')' to close the '(' at 1:5, found end of line"},
      {"h = 1 +",
       "g.graph:1:8: error: expected an expression after '+', found end of line (to continue on the next "
       "line, put the expression in parentheses)"},
      {"h = f(,)", "g.graph:1:7: error: expected an expression after '(', found ','"},
      {"h = f(a,)", "g.graph:1:9: error: expected an expression after ',', found ')'"},
      {"h = f(k=)", "g.graph:1:9: error: expected an expression after '=', found ')'"},
      {"h = * 2", "g.graph:1:5: error: expected an expression after '=', found '*'"},
      {"h = x |> 3", "g.graph:1:10: error: expected a function name after '|>', found number 3"},
      {"h = x |> f + 1",
       "g.graph:1:12: error: expected end of expression after the piped call to 'f', found '+' (put the pipe "
       "in parentheses to use its result)"},
  });
}

TEST_CASE("errors: lexical errors are reported in place, once") {
  check_single_errors({
      {"h = dense(x, $)", "g.graph:1:14: error: unexpected character '$'"},
      {"s = \"abc", "g.graph:1:5: error: unterminated string"},
      {"s = \"C:\\data\"",
       "g.graph:1:8: error: unknown escape '\\d' in string (only \\\" and \\\\ are allowed)"},
      {"h = 3x", "g.graph:1:5: error: malformed number '3x'"},
      {"h = a. + 1",
       "g.graph:1:5: error: malformed name 'a.': each part after '.' must start with a letter or '_'"},
      {"h = \xc3\xa9t\xc3\xa9",
       "g.graph:1:5: error: unexpected byte 0xc3 (only ASCII is allowed outside strings and comments)"},
      {std::string("h = 1\0", 6), "g.graph:1:6: error: unexpected byte 0x00"},
      {"x <- 1 < 2", "g.graph:1:3: error: expected '=' after 'x', found '<-'"},
  });
}

TEST_CASE("errors: train blocks") {
  check_single_errors({
      {"train batch = 1", "g.graph:1:7: error: expected '{' after 'train', found 'batch'"},
      {"train {\n  batch = 128\n",
       "g.graph:3:1: error: expected '}' to close the train block at 1:7, found end of file"},
      {"train { a = 1 } x", "g.graph:1:17: error: expected end of line after the train block, found 'x'"},
      {"train { a = 1,, b = 2 }",
       "g.graph:1:15: error: expected a setting name or '}' in the train block, found ','"},
      {"train { a = (1 }", "g.graph:1:16: error: expected ')' to close the '(' at 1:13, found '}'"},
  });
}

TEST_CASE("errors: every broken line of a file is reported and the good statements are kept") {
  const Parsed parsed = parse(
      "input x : [784] <- image\n"  // 1
      "h = dense(x, 32\n"           // 2: missing ')'
      "code = relu(h)\n"            // 3
      "r = $ + 1\n"                 // 4
      "bad (x)\n"                   // 5
      "s = \"unterminated\n"        // 6
      "loss = loss.bce(r, x)\n");   // 7
  CHECK(parsed.errors ==
        std::vector<std::string>{
            "g.graph:2:16: error: expected ')' to close the call to 'dense' at 2:5, found end of line",
            "g.graph:4:5: error: unexpected character '$'",
            "g.graph:5:5: error: expected '=' after 'bad', found '('",
            "g.graph:6:5: error: unterminated string",
        });
  CHECK(names_of(parsed.program) == std::vector<std::string>{"x", "code", "loss"});
}

TEST_CASE("errors: recovery skips the rest of a bracket opened by the broken code, across lines") {
  const Parsed parsed = parse("h = f(a b,\n  c)\ny = 1\nz = (1 2\n  3)\nw = 2\n");
  CHECK(parsed.errors == std::vector<std::string>{
                             "g.graph:1:9: error: expected ')' to close the call to 'f' at 1:5, found 'b'",
                             "g.graph:4:8: error: expected ')' to close the '(' at 4:5, found number 2",
                         });
  CHECK(names_of(parsed.program) == std::vector<std::string>{"y", "w"});
}

TEST_CASE("errors: each broken train setting is reported, the block is dropped, parsing goes on after it") {
  const Parsed parsed = parse(
      "train {\n"
      "  optimizer = sgd(lr=0.1 momentum=0.9)\n"
      "  batch = \n"
      "  epochs 15\n"
      "  = 3\n"
      "  shuffle = true\n"
      "}\n"
      "h = 1\n");
  CHECK(parsed.errors ==
        std::vector<std::string>{
            "g.graph:2:26: error: expected ')' to close the call to 'sgd' at 2:15, found 'momentum'",
            "g.graph:3:10: error: expected an expression after '=', found end of line",
            "g.graph:4:10: error: expected '=' after 'epochs', found number 15",
            "g.graph:5:3: error: expected a setting name or '}' in the train block, found '='",
        });
  CHECK(names_of(parsed.program) == std::vector<std::string>{"h"});
}

TEST_CASE("errors: a broken setting followed by '}' on the same line closes the block") {
  const Parsed parsed = parse("train { batch = 1 2 }\nh = 2\n");
  CHECK(parsed.errors ==
        std::vector<std::string>{
            "g.graph:1:19: error: expected a setting name or '}' in the train block, found number 2"});
  CHECK(names_of(parsed.program) == std::vector<std::string>{"h"});
}

TEST_CASE("errors: a train block left open before a keyword statement, which still parses") {
  const Parsed parsed = parse("train {\n  batch = 1\n\ndata d = idx()\ninput x : [1] <- image\n");
  CHECK(parsed.errors ==
        std::vector<std::string>{
            "g.graph:4:1: error: expected '}' to close the train block at 1:7, found 'data'"});
  CHECK(names_of(parsed.program) == std::vector<std::string>{"d", "x"});
}

TEST_CASE("errors: too deep nesting is refused, not a stack overflow") {
  for (const std::string& value : {std::string(1000, '(') + "1" + std::string(1000, ')'),
                                   std::string(100000, '-') + "1", nested_calls(500)}) {
    const Parsed parsed = parse("h = " + value + "\ny = 2\n");
    REQUIRE(parsed.errors.size() == 1);
    CHECK(parsed.errors[0].find("error: expression nested too deeply (more than 200 levels)") !=
          std::string::npos);
    CHECK(names_of(parsed.program) == std::vector<std::string>{"y"});
  }
  std::string chain = "h = 1";
  for (int i = 0; i < 100000; ++i) chain += "+1";
  const Parsed parsed = parse(chain);
  REQUIRE(parsed.errors.size() == 1);
  // The statement's expression is level 1 and each '+' one more, so the operand after the 200th '+' (at
  // column 5 + 2 * 200) is the first one too deep.
  CHECK(parsed.errors[0] == "g.graph:1:405: error: expression nested too deeply (more than 200 levels)");
}

TEST_CASE("parse_graph_file reads a file, and reports an unreadable one at the file") {
  const std::string path = "test_frontend_parse_file.graph";
  {
    std::ofstream out(path, std::ios::binary);
    out << "input x : [4] <- image\nh = dense(x, 2)\n";
  }
  DiagnosticSink sink;
  const ast::Program program = parse_graph_file(path, sink);
  std::remove(path.c_str());
  CHECK_FALSE(sink.has_errors());
  CHECK(program.file == path);
  REQUIRE(program.statements.size() == 2);
  CHECK(program.statements[1].value->location.str() == path + ":2:5");

  DiagnosticSink missing;
  const ast::Program none = parse_graph_file("no/such/file.graph", missing);
  CHECK(none.statements.empty());
  REQUIRE(missing.diagnostics().size() == 1);
  CHECK(missing.diagnostics()[0].str() ==
        "no/such/file.graph: error: cannot read graph file: No such file or directory\n");

  DiagnosticSink directory;
  parse_graph_file(".", directory);
  REQUIRE(directory.diagnostics().size() == 1);
  CHECK(directory.diagnostics()[0].str() == ".: error: cannot read graph file: Is a directory\n");
}

namespace {

// A fresh folder of its own for each test, since CTest runs test cases as parallel processes.
std::string include_folder(const std::string& name) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("hg_includes_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::vector<std::string> file_errors(const std::string& path) {
  DiagnosticSink sink;
  parse_graph_file(path, sink);
  std::vector<std::string> errors;
  for (const Diagnostic& d : sink.diagnostics()) errors.push_back(d.str().substr(0, d.str().size() - 1));
  return errors;
}

}  // namespace

TEST_CASE("includes: a chain deeper than the limit stops with one error naming the chain") {
  const std::string dir = include_folder("deep");
  for (int i = 0; i < 24; ++i)
    std::ofstream(dir + "/f" + std::to_string(i) + ".graph")
        << "include \"f" << i + 1 << ".graph\"\nh" << i << " = 1\n";
  std::ofstream(dir + "/f24.graph") << "h24 = 1\n";
  const std::vector<std::string> errors = file_errors(dir + "/f0.graph");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind(
            dir + "/f15.graph:1:9: error: includes nested more than 16 files deep: " + dir + "/f0.graph -> ",
            0) == 0);
  CHECK(errors[0].find("-> " + dir + "/f16.graph") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("includes: the same file through a symbolic link is a cycle") {
  const std::string dir = include_folder("link");
  std::ofstream(dir + "/a.graph") << "include \"alias.graph\"\nh = 1\n";
  std::filesystem::create_symlink("a.graph", dir + "/alias.graph");
  const std::vector<std::string> errors = file_errors(dir + "/a.graph");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0] ==
        dir + "/a.graph:1:9: error: include cycle: " + dir + "/a.graph -> " + dir + "/alias.graph");
  std::filesystem::remove_all(dir);
}

TEST_CASE("includes: a file over the size limit is refused from its size, before it is read") {
  const std::string dir = include_folder("huge");
  std::ofstream(dir + "/main.graph") << "include \"huge.graph\"\ninclude \"huge.graph\"\nh = 1\n";
  std::ofstream(dir + "/huge.graph").close();
  std::filesystem::resize_file(dir + "/huge.graph", uint64_t(1) << 40);  // sparse: 1 TiB on no disk space
  const std::vector<std::string> errors = file_errors(dir + "/main.graph");
  REQUIRE(errors.size() == 1);  // the second include is not tried: nothing more can fit
  CHECK(errors[0] == dir + "/main.graph:1:9: error: cannot read included file '" + dir +
                         "/huge.graph': it is 1099511627776 bytes, more than the 8388560 left of the "
                         "8388608-byte limit on a graph with its includes");
  std::filesystem::remove_all(dir);
}

TEST_CASE("includes: a FIFO or a device is refused without reading it, and so is one as the graph file") {
  const std::string dir = include_folder("fifo");
  REQUIRE(::mkfifo((dir + "/pipe.graph").c_str(), 0600) == 0);  // nobody writes: reading would block
  std::ofstream(dir + "/main.graph") << "include \"pipe.graph\"\n";
  CHECK(file_errors(dir + "/main.graph") ==
        std::vector<std::string>{dir + "/main.graph:1:9: error: cannot read included file '" + dir +
                                 "/pipe.graph': not a regular file"});
  CHECK(file_errors("/dev/zero") ==
        std::vector<std::string>{"/dev/zero: error: cannot read graph file: not a regular file"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("includes: a file whose text does not fit the memory budget is refused at its include") {
  const std::string dir = include_folder("budget");
  std::ofstream(dir + "/main.graph") << "include \"big.graph\"\nh = 1\n";
  std::ofstream(dir + "/big.graph") << "# " << std::string(3000, 'x') << "\nh2 = 1\n";
  test::MaxMemory budget("2K");
  CHECK(file_errors(dir + "/main.graph") ==
        std::vector<std::string>{
            dir + "/main.graph:1:9: error: cannot read included file '" + dir +
            "/big.graph': its 3010 bytes of text need 2.9 KiB, more than the memory budget "
            "of 2.0 KiB (--max-memory 2K)"});
  std::filesystem::remove_all(dir);
}
