// Parsing each statement kind of a valid graph file: what lands in the AST and where each piece is placed.
#include <doctest/doctest.h>

#include "frontend/parser.h"

using namespace hg;
using Kind = ast::Statement::Kind;

namespace {

const char* const kExample =
    "# a small autoencoder\n"
    "data mnist = idx(images=\"train-images.idx\", labels=\"train-labels.idx\")\n"
    "input x : [784] <- image\n"
    "code = dense(x, 32) |> relu\n"
    "r = dense(code, 784) |> sigmoid\n"
    "loss = loss.bce(r, x) + 0.0001 * reg.l2(code.weights)\n"
    "train {\n"
    "  optimizer = sgd(lr=0.1, momentum=0.9)\n"
    "  batch = 128\n"
    "  epochs = 15\n"
    "}\n";

ast::Program parse_clean(const std::string& text) {
  DiagnosticSink sink;
  ast::Program program = parse_graph("g.graph", text, sink);
  for (const Diagnostic& d : sink.diagnostics()) FAIL_CHECK(d.str());
  return program;
}

}  // namespace

TEST_CASE("parser: a whole example file gives one statement per line, in order") {
  const ast::Program program = parse_clean(kExample);
  CHECK(program.file == "g.graph");
  REQUIRE(program.statements.size() == 6);
  const Kind expected[] = {Kind::Data, Kind::Input, Kind::Assign, Kind::Assign, Kind::Assign, Kind::Train};
  for (size_t i = 0; i < 6; ++i) CHECK(program.statements[i].kind == expected[i]);
  CHECK(program.statements[2].name == "code");
  CHECK(program.statements[4].name == "loss");
  CHECK(ast::to_string(*program.statements[4].value) == "loss.bce(r, x) + 0.0001 * reg.l2(code.weights)");
}

TEST_CASE("parser: data statement") {
  const ast::Program program = parse_clean("data mnist = idx(images=\"a.idx\", scale=1/255)\n");
  REQUIRE(program.statements.size() == 1);
  const ast::Statement& data = program.statements[0];
  CHECK(data.kind == Kind::Data);
  CHECK(data.location.str() == "g.graph:1:1");
  CHECK(data.name == "mnist");
  CHECK(data.name_location.str() == "g.graph:1:6");
  REQUIRE(data.value);
  CHECK(data.value->kind == ast::Expr::Kind::Call);
  CHECK(data.value->location.str() == "g.graph:1:14");
  CHECK(ast::to_string(*data.value) == "idx(images=\"a.idx\", scale=1 / 255)");
}

TEST_CASE("parser: input statement") {
  const ast::Program program = parse_clean("input  x : [28, 28] <- image");
  REQUIRE(program.statements.size() == 1);
  const ast::Statement& input = program.statements[0];
  CHECK(input.kind == Kind::Input);
  CHECK(input.location.str() == "g.graph:1:1");
  CHECK(input.name == "x");
  CHECK(input.name_location.str() == "g.graph:1:8");
  CHECK(input.shape == std::vector<int64_t>{28, 28});
  CHECK(input.shape_location.str() == "g.graph:1:12");
  CHECK(input.source == "image");
  CHECK(input.source_location.str() == "g.graph:1:24");
  CHECK(input.value == nullptr);
}

TEST_CASE("parser: a shape may span lines and use any integer spelling") {
  const ast::Program program = parse_clean("input y : [\n  10,\n  1e1\n] <- label\n");
  REQUIRE(program.statements.size() == 1);
  CHECK(program.statements[0].shape == std::vector<int64_t>{10, 10});
  CHECK(program.statements[0].source == "label");
}

TEST_CASE("parser: assignment, with a dotted name on the right") {
  const ast::Program program = parse_clean("\n\n  h = code.weights\n");
  REQUIRE(program.statements.size() == 1);
  const ast::Statement& assign = program.statements[0];
  CHECK(assign.kind == Kind::Assign);
  CHECK(assign.name == "h");
  CHECK(assign.location.str() == "g.graph:3:3");
  CHECK(assign.name_location.str() == "g.graph:3:3");
  REQUIRE(assign.value);
  CHECK(assign.value->kind == ast::Expr::Kind::Name);
  CHECK(assign.value->text == "code.weights");
  CHECK(assign.value->location.str() == "g.graph:3:7");
}

TEST_CASE("parser: a multi-line train block becomes keyword settings") {
  const ast::Program program = parse_clean(kExample);
  const ast::Statement& train = program.statements.back();
  CHECK(train.kind == Kind::Train);
  CHECK(train.location.str() == "g.graph:7:1");
  REQUIRE(train.settings.size() == 3);
  CHECK(train.settings[0].keyword == "optimizer");
  CHECK(train.settings[0].location.str() == "g.graph:8:3");
  CHECK(ast::to_string(*train.settings[0].value) == "sgd(lr=0.1, momentum=0.9)");
  CHECK(train.settings[1].keyword == "batch");
  CHECK(train.settings[1].value->number == 128);
  CHECK(train.settings[2].keyword == "epochs");
  CHECK(train.settings[2].location.str() == "g.graph:10:3");
}

TEST_CASE("parser: train settings may be separated by spaces, commas or line breaks") {
  for (const char* text : {"train { optimizer = sgd(lr=0.1, momentum=0.9)  batch = 128  epochs = 15 }",
                           "train {optimizer = sgd(lr=0.1, momentum=0.9), batch = 128, epochs = 15,}",
                           "train {\n\n  optimizer = sgd(\n    lr=0.1,\n    momentum=0.9\n  ),\n  batch = "
                           "128\n  epochs = 15\n\n}\n"}) {
    CAPTURE(text);
    const ast::Program program = parse_clean(text);
    REQUIRE(program.statements.size() == 1);
    const std::vector<ast::Arg>& settings = program.statements[0].settings;
    REQUIRE(settings.size() == 3);
    CHECK(settings[0].keyword == "optimizer");
    CHECK(ast::to_string(*settings[0].value) == "sgd(lr=0.1, momentum=0.9)");
    CHECK(settings[1].keyword == "batch");
    CHECK(settings[2].keyword == "epochs");
    CHECK(settings[2].value->number == 15);
  }
  const ast::Program empty = parse_clean("train {}\n");
  REQUIRE(empty.statements.size() == 1);
  CHECK(empty.statements[0].settings.empty());
}

TEST_CASE("parser: keywords count only at the start of a statement") {
  const ast::Program program = parse_clean("h = dense(data, input)\ntrain { data = 1 }\n");
  REQUIRE(program.statements.size() == 2);
  CHECK(ast::to_string(*program.statements[0].value) == "dense(data, input)");
  CHECK(program.statements[1].settings[0].keyword == "data");
}

TEST_CASE("parser: CRLF files, files without a final line break, and comment-only files") {
  const ast::Program crlf = parse_clean("# c\r\ninput x : [4] <- image\r\nh = f(x,\r\n  2)\r\n");
  REQUIRE(crlf.statements.size() == 2);
  CHECK(crlf.statements[1].location.str() == "g.graph:3:1");
  CHECK(ast::to_string(*crlf.statements[1].value) == "f(x, 2)");
  CHECK(parse_clean("h = 1").statements.size() == 1);
  CHECK(parse_clean("h = 1 # done").statements.size() == 1);
  CHECK(parse_clean("").statements.empty());
  CHECK(parse_clean("# nothing here\n\n   \n").statements.empty());
}
