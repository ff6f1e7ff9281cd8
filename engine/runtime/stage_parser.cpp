// Pipeline files: the parser, on the graph language's lexer, with parameters and sweeps substituted into
// each stage before it is parsed; its reference checks are in stage_references.cpp.
#include "runtime/stage_references.h"
#include "runtime/stages.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "frontend/lexer.h"
#include "frontend/parser.h"
#include "ir/lower_util.h"
#include "runtime/transfer.h"

namespace hg {

namespace {

const std::vector<std::string> kKinds = {"train", "eval", "encode", "summary"};
const std::vector<std::string> kTrainClauses = {"init", "freeze", "set"};
const std::vector<std::string> kFeatureExtensions = {".csv", ".npy", ".svm", ".libsvm"};

// The graph lexer knows '-' but not "->": join a '-' and a '>' written together.
std::vector<Token> pipeline_tokens(const std::string& file, const std::string& text) {
  std::vector<Token> tokens;
  for (Token& t : tokenize(file, text)) {
    if (t.kind == TokenKind::Invalid && t.text == ">" && !tokens.empty() && tokens.back().is("-") &&
        tokens.back().location.line == t.location.line &&
        tokens.back().location.column + 1 == t.location.column) {
      tokens.back().text = "->";
      continue;
    }
    tokens.push_back(std::move(t));
  }
  return tokens;
}

// Thrown after a stage's first syntax error has been reported: the rest of that stage is skipped.
struct Abandon {};

// One stage's tokens without line breaks (a stage runs on over indented lines), ending in the Newline token
// just after its last token.
class StageParser {
 public:
  StageParser(std::vector<Token> tokens, const std::string& folder, DiagnosticSink& sink)
      : tokens_(std::move(tokens)), folder_(folder), sink_(sink) {}

  // The stage, or nullopt after reporting its first error; `name` is set as soon as it is known, so that
  // references to a broken stage are not reported again as unknown.
  std::optional<Stage> parse(std::string& name) {
    Stage s;
    for (size_t i = 0; i + 1 < tokens_.size(); ++i) s.text += (i ? " " : "") + tokens_[i].text;
    try {
      for (const Token& t : tokens_)
        if (t.kind == TokenKind::Invalid) fail(t.location, t.value);
      take();  // `stage`
      s.where = peek().location;
      s.name = this->name("a stage name after 'stage'");
      if (s.name == "stage") fail(s.where, "'stage' is a keyword, not a stage name");
      name = s.name;
      expect("=", "'=' after '" + s.name + "'");
      const SourceLocation kind_where = peek().location;
      const std::string kind = this->name("train, eval, encode or summary after '='");
      if (kind == "train")
        parse_train(s);
      else if (kind == "eval")
        parse_eval(s);
      else if (kind == "encode")
        parse_encode(s);
      else if (kind == "summary")
        parse_summary(s);
      else
        fail(kind_where, "unknown stage kind '" + kind + "'" + did_you_mean(kind, kKinds) +
                             "; a stage is train, eval, encode or summary");
      return s;
    } catch (const Abandon&) {
      return std::nullopt;
    }
  }

 private:
  const Token& peek() const { return tokens_[std::min(pos_, tokens_.size() - 1)]; }
  const Token& take() { return tokens_[std::min(pos_++, tokens_.size() - 1)]; }
  bool at_end() const { return pos_ + 1 >= tokens_.size(); }

  [[noreturn]] void fail(const SourceLocation& where, const std::string& message) {
    sink_.error(where, message);
    throw Abandon{};
  }
  [[noreturn]] void expected(const std::string& what) {
    fail(peek().location, "expected " + what + ", found " + describe(peek()));
  }
  void expect(const char* punct, const std::string& what) {
    if (!peek().is(punct)) expected(what);
    take();
  }
  std::string name(const std::string& what) {
    if (peek().kind != TokenKind::Name) expected(what);
    return take().text;
  }
  const Token& string(const std::string& what) {
    if (peek().kind != TokenKind::String) expected(what);
    return take();
  }
  std::string path(const std::string& what) {
    const std::string written = string(what).value;
    if (written.empty() || written[0] == '/') return written;
    return (std::filesystem::path(folder_) / written).lexically_normal().string();
  }

  // `-> "FILE"`, which ends the stage.
  void parse_output(Stage& s, const std::string& example) {
    if (!peek().is("->"))
      fail(peek().location, std::string(stage_kind_name(s.kind)) + " stage '" + s.name +
                                "' has no output: end it with -> \"" + example + "\"");
    take();
    s.out = path("the output file as a string after '->'");
    if (!at_end()) expected("the end of stage '" + s.name + "' after its output");
  }

  void parse_train(Stage& s) {
    s.kind = StageKind::Train;
    s.graph = path("the graph file as a string after 'train'");
    while (peek().kind == TokenKind::Name) {
      const Token& clause = take();
      if (clause.text == "init")
        parse_init(s);
      else if (clause.text == "freeze")
        parse_globs(s.freeze);
      else if (clause.text == "set")
        parse_settings(s.settings);
      else
        fail(clause.location, "unknown clause '" + clause.text + "'" +
                                  did_you_mean(clause.text, kTrainClauses) +
                                  "; a train stage takes init, freeze and set, then -> \"OUT\"");
    }
    parse_output(s, "out/" + s.name + ".safetensors");
  }

  // init STAGE [{ "source" -> "target", "same.*", ... }]
  void parse_init(Stage& s) {
    StageInit init{"", "", peek().location, {}, {}};
    if (peek().kind == TokenKind::String)  // init "pretrained/dae1.safetensors": a checkpoint file
      init.checkpoint = path("a checkpoint file");
    else
      init.stage = name("the stage to initialize from after 'init', or a checkpoint file as a string");
    if (peek().is("{")) {
      const SourceLocation brace = take().location;
      while (!peek().is("}")) {
        const Token& source = string("a glob as a string, like \"enc1.*\" or \"enc1.*\" -> \"fc1.*\"");
        std::string target = source.value;
        if (peek().is("->")) {
          take();
          target = string("the target glob as a string after '->'").value;
        }
        const std::string rule = source.value + "->" + target;
        try {
          parse_map_rule(rule);
        } catch (const Error& e) {  // reported at "--map '...'"; here the rule has a place in the file
          fail(source.location, e.diagnostics()[0].message);
        }
        init.maps.push_back(rule);
        init.map_locations.push_back(source.location);
        if (peek().is(",")) take();
      }
      take();
      if (init.maps.empty())
        fail(brace, "empty { }: leave it out to load every tensor into the parameter of its name");
    }
    s.inits.push_back(std::move(init));
  }

  // "glob" or { "glob", ... }
  void parse_globs(std::vector<std::string>& into) {
    const std::string what = "a parameter glob as a string, like \"enc1.*\"";
    if (!peek().is("{")) return into.push_back(string(what + " or { \"a.*\", \"b.*\" }").value);
    take();
    while (!peek().is("}")) {
      into.push_back(string(what).value);
      if (peek().is(",")) take();
    }
    take();
  }

  // { key=value ... }, each as --set takes it
  void parse_settings(std::vector<std::string>& into) {
    expect("{", "'{' after 'set', as in set { epochs=5 lr=0.01 }");
    while (!peek().is("}")) {
      const SourceLocation where = peek().location;
      const std::string key = name("a setting name, like epochs");
      expect("=", "'=' after '" + key + "'");
      std::string value = peek().is("-") ? take().text : "";
      if (peek().kind != TokenKind::Number && peek().kind != TokenKind::Name)
        expected("a value for '" + key + "'");
      const std::string setting = key + "=" + value + take().text;
      try {
        TrainSettings
            probe;  // sgd, so that momentum is accepted; the graph's optimizer is checked when it runs
        if (!data_setting(setting)) apply_setting(probe, setting);
      } catch (const Error& e) {
        fail(where, e.diagnostics()[0].message);
      }
      into.push_back(setting);
      if (peek().is(",")) take();
    }
    take();
  }

  void parse_source_stage(Stage& s) {
    s.of_where = peek().location;
    s.of = name("the train stage to use after '" + std::string(stage_kind_name(s.kind)) + "'");
  }

  void parse_eval(Stage& s) {
    s.kind = StageKind::Eval;
    parse_source_stage(s);
    if (at_end()) return;  // the output defaults to <name>.eval.json beside the checkpoint
    if (!peek().is("->")) expected("-> \"FILE.json\" or the end of stage '" + s.name + "'");
    parse_output(s, s.name + ".eval.json");
  }

  // summary [{ A - B, ... }] -> "OUT": the table of every eval stage over the whole sweep
  void parse_summary(Stage& s) {
    s.kind = StageKind::Summary;
    if (peek().is("{")) {
      take();
      while (!peek().is("}")) {
        const SourceLocation where = peek().location;
        const std::string a = name("an eval stage, as in { pretrained - scratch }");
        expect("-", "'-' after '" + a + "', as in { pretrained - scratch }");
        const std::string b = name("the eval stage to subtract after '-'");
        s.pairs.emplace_back(a, b);
        s.pair_locations.push_back(where);
        if (peek().is(",")) take();
      }
      take();
    }
    parse_output(s, "out/summary");
  }

  void parse_encode(Stage& s) {
    s.kind = StageKind::Encode;
    parse_source_stage(s);
    while (peek().kind == TokenKind::Name) {
      const Token& clause = take();
      std::string* value = clause.text == "node" ? &s.node : clause.text == "data" ? &s.data : nullptr;
      if (!value)
        fail(clause.location, "unknown clause '" + clause.text + "'" +
                                  did_you_mean(clause.text, {"node", "data"}) +
                                  "; an encode stage takes node NAME and data NAME, then -> \"FILE\"");
      *value = name("a name after '" + clause.text + "'");
    }
    if (s.node.empty())
      fail(peek().location, "encode stage '" + s.name + "' needs the node to export: node NAME");
    const SourceLocation out_where = peek().location;
    parse_output(s, "out/" + s.name + ".npy");
    const std::string extension = std::filesystem::path(s.out).extension().string();
    if (std::find(kFeatureExtensions.begin(), kFeatureExtensions.end(), extension) ==
        kFeatureExtensions.end())
      fail(out_where,
           "cannot tell the format of '" + s.out + "' from its extension; use .csv, .npy, .svm or .libsvm");
  }

  std::vector<Token> tokens_;
  size_t pos_ = 0;
  std::string folder_;
  DiagnosticSink& sink_;
};

// Replaces `{NAME}` inside strings and a bare NAME as a setting's value (inside set { }) by the parameter's
// value, so that the stage's text, and its fingerprint, hold what it really runs with.
void substitute(std::vector<Token>& tokens, const std::vector<PipelineParam>& params, DiagnosticSink& sink) {
  auto find = [&](const std::string& name) -> const PipelineParam* {
    for (const PipelineParam& p : params)
      if (p.name == name) return &p;
    return nullptr;
  };
  std::vector<std::string> names;
  for (const PipelineParam& p : params) names.push_back(p.name);
  bool in_set = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    Token& t = tokens[i];
    if (t.kind == TokenKind::Name && t.text == "set" && i + 1 < tokens.size() && tokens[i + 1].is("{"))
      in_set = true;
    if (in_set && t.is("}")) in_set = false;
    if (t.kind == TokenKind::String && t.value.find('{') != std::string::npos) {
      std::string out;
      const std::string& v = t.value;
      for (size_t at = 0; at < v.size();) {
        const size_t open = v.find('{', at), close = open == std::string::npos ? open : v.find('}', open);
        if (close == std::string::npos) {
          out += v.substr(at);
          break;
        }
        const std::string name = v.substr(open + 1, close - open - 1);
        const PipelineParam* p = find(name);
        if (!p) {
          sink.error(t.location, "unknown parameter '{" + name + "}'" + did_you_mean(name, names) +
                                     (names.empty() ? "; declare it with param " + name + " = VALUE" : ""));
          return;
        }
        out += v.substr(at, open - at) + p->value;
        at = close + 1;
      }
      t.value = out;
      t.text = "\"" + out + "\"";
    }
    if (in_set && t.kind == TokenKind::Name && i > 0 && tokens[i - 1].is("="))
      if (const PipelineParam* p = find(t.text)) {
        char* end = nullptr;
        t.number = std::strtod(p->value.c_str(), &end);
        t.kind = !p->value.empty() && *end == '\0' ? TokenKind::Number : TokenKind::Name;
        t.text = p->value;
      }
  }
}

// A value as a parameter holds it: a number (maybe negative), a name or a string's contents. Advances `i`.
std::optional<std::string> param_value(const std::vector<Token>& tokens, size_t& i) {
  std::string sign;
  if (tokens[i].is("-")) {
    sign = "-";
    ++i;
  }
  const Token& t = tokens[i];
  if (t.kind == TokenKind::Number || (sign.empty() && t.kind == TokenKind::Name))
    return sign + tokens[i++].text;
  if (sign.empty() && t.kind == TokenKind::String) return tokens[i++].value;
  return std::nullopt;
}

// param NAME = VALUE
void parse_param(const std::vector<Token>& tokens, std::vector<PipelineParam>& params, DiagnosticSink& sink) {
  size_t i = 1;
  if (tokens[i].kind != TokenKind::Name)
    return void(sink.error(tokens[i].location,
                           "expected a parameter name after 'param', found " + describe(tokens[i])));
  PipelineParam p{tokens[i].text, "", tokens[i].location};
  ++i;
  if (!tokens[i].is("="))
    return void(
        sink.error(tokens[i].location, "expected '=' after '" + p.name + "', found " + describe(tokens[i])));
  ++i;
  const std::optional<std::string> value = param_value(tokens, i);
  if (!value)
    return void(sink.error(tokens[i].location, "expected a value for parameter '" + p.name +
                                                   "' (a number, a name or a string), found " +
                                                   describe(tokens[i])));
  if (tokens[i].kind != TokenKind::Newline)
    return void(sink.error(tokens[i].location, "expected the end of the line after param " + p.name +
                                                   ", found " + describe(tokens[i])));
  for (const PipelineParam& q : params)
    if (q.name == p.name) {
      sink.error(p.where, "parameter '" + p.name + "' is already defined")
          .notes.push_back({Severity::Note, q.where, "first defined here", {}});
      return;
    }
  p.value = *value;
  params.push_back(p);
}

// sweep { NAME = v1, v2  NAME = v1, v2 }
void parse_sweep(const std::vector<Token>& tokens, std::vector<SweepAxis>& axes, DiagnosticSink& sink) {
  size_t i = 1;
  if (!tokens[i].is("{"))
    return void(sink.error(tokens[i].location, "expected '{' after 'sweep', as in sweep { seed = 1, 2, 3 }"));
  ++i;
  while (!tokens[i].is("}")) {
    if (tokens[i].kind != TokenKind::Name)
      return void(sink.error(tokens[i].location,
                             "expected a parameter name or '}' in sweep, found " + describe(tokens[i])));
    SweepAxis axis{tokens[i].text, {}, tokens[i].location};
    ++i;
    if (!tokens[i].is("="))
      return void(sink.error(tokens[i].location,
                             "expected '=' after '" + axis.name + "', found " + describe(tokens[i])));
    ++i;
    for (;;) {
      const SourceLocation where = tokens[i].location;
      const std::optional<std::string> value = param_value(tokens, i);
      if (!value)
        return void(
            sink.error(where, "expected a value for '" + axis.name + "', found " + describe(tokens[i])));
      axis.values.push_back(*value);
      if (!tokens[i].is(",")) break;
      ++i;
    }
    axes.push_back(axis);
  }
}

}  // namespace

Pipeline parse_pipeline(const std::string& file, const std::string& text, DiagnosticSink& sink,
                        const std::vector<std::string>& overrides) {
  Pipeline pipeline{file, {}, {}, {}};
  const std::string folder = std::filesystem::path(file).parent_path().string();
  const std::vector<Token> tokens = pipeline_tokens(file, text);
  const size_t errors_before = sink.count();
  const std::vector<std::string> keywords = {"stage", "param", "sweep"};
  auto keyword = [&](const Token& t) {
    return t.kind == TokenKind::Name && std::find(keywords.begin(), keywords.end(), t.text) != keywords.end();
  };
  // A statement runs on over indented lines; it ends before a line that starts at column 1 or with a
  // keyword. Parameters are read first, so that a stage may use one declared below it.
  std::vector<std::vector<Token>> statements;
  size_t i = 0;
  while (tokens[i].kind != TokenKind::End) {
    if (tokens[i].kind == TokenKind::Newline) {
      ++i;
      continue;
    }
    const bool starts = keyword(tokens[i]);
    if (!starts) {  // report once, then look for the next line that starts a stage
      const Token& t = tokens[i];
      sink.error(t.location, t.kind == TokenKind::Invalid
                                 ? t.value
                                 : "expected a line starting with 'stage', 'param' or 'sweep', found " +
                                       describe(t) +
                                       (t.kind == TokenKind::Name ? did_you_mean(t.text, keywords) : ""));
    }
    std::vector<Token> statement{tokens[i]};
    size_t last = i++;  // the statement's last token; the Newline after it marks the statement's end
    for (; tokens[i].kind != TokenKind::End; ++i) {
      const bool line_start = tokens[i - 1].kind == TokenKind::Newline;
      // A closing brace at the start of a line still belongs to its block (sweep { ... \n }).
      if (line_start && ((tokens[i].location.column == 1 && !tokens[i].is("}")) || keyword(tokens[i]))) break;
      if (tokens[i].kind != TokenKind::Newline) statement.push_back(tokens[last = i]);
    }
    if (!starts) continue;
    statement.push_back(tokens[last + 1]);
    statements.push_back(std::move(statement));
  }
  for (const std::vector<Token>& st : statements) {
    if (st[0].text == "param") parse_param(st, pipeline.params, sink);
    if (st[0].text == "sweep") {
      if (!pipeline.sweep.empty()) sink.error(st[0].location, "a second sweep block; put every axis in one");
      parse_sweep(st, pipeline.sweep, sink);
    }
  }
  for (const SweepAxis& axis : pipeline.sweep)
    if (std::none_of(pipeline.params.begin(), pipeline.params.end(),
                     [&](const PipelineParam& p) { return p.name == axis.name; }))
      sink.error(axis.where, "sweep over '" + axis.name + "', which is no parameter; declare it with param " +
                                 axis.name + " = VALUE");
  for (const std::string& o : overrides) {
    const size_t eq = o.find('=');
    const SourceLocation where{"--param " + o, 0, 0};
    if (eq == std::string::npos || eq == 0) {
      sink.error(where, "expected NAME=VALUE");
      continue;
    }
    const std::string name = o.substr(0, eq);
    auto p = std::find_if(pipeline.params.begin(), pipeline.params.end(),
                          [&](const PipelineParam& q) { return q.name == name; });
    if (p == pipeline.params.end()) {
      std::vector<std::string> names;
      for (const PipelineParam& q : pipeline.params) names.push_back(q.name);
      sink.error(where, "the pipeline has no parameter '" + name + "'" + did_you_mean(name, names) +
                            "; declare it with param " + name + " = VALUE");
      continue;
    }
    p->value = o.substr(eq + 1);
  }
  std::vector<std::string> broken;  // names of stages that did not parse
  for (std::vector<Token>& st : statements) {
    if (st[0].text != "stage") continue;
    const size_t errors = sink.count();
    substitute(st, pipeline.params, sink);
    std::string name;
    std::optional<Stage> stage;
    if (sink.count() == errors) stage = StageParser(std::move(st), folder, sink).parse(name);
    if (stage)
      pipeline.stages.push_back(std::move(*stage));
    else if (!name.empty())
      broken.push_back(name);
  }
  if (pipeline.stages.empty() && sink.count() == errors_before)
    sink.error({file, 0, 0}, "no stages: a pipeline has lines like stage NAME = train \"GRAPH\" -> \"OUT\"");
  for (Stage& s : pipeline.stages)  // eval's default output: <name>.eval.json beside the checkpoint
    if (s.kind == StageKind::Eval && s.out.empty())
      if (const Stage* source = pipeline.find(s.of); source && !source->out.empty())
        s.out = (std::filesystem::path(source->out).parent_path() / (s.name + ".eval.json")).string();
  check_references(pipeline.stages, broken, sink);
  return pipeline;
}

std::vector<std::vector<std::string>> sweep_grid(const std::vector<SweepAxis>& axes) {
  std::vector<std::vector<std::string>> grid{{}};
  for (const SweepAxis& axis : axes) {
    std::vector<std::vector<std::string>> next;
    for (const std::vector<std::string>& row : grid)
      for (const std::string& value : axis.values) {
        next.push_back(row);
        next.back().push_back(axis.name + "=" + value);
      }
    grid = std::move(next);
  }
  return grid;
}

SweepAxis parse_sweep_flag(const std::string& text) {
  const SourceLocation where{"--sweep " + text, 0, 0};
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw Error(where, "expected NAME=v1,v2,..., like seed=1,2,3");
  SweepAxis axis{text.substr(0, eq), {}, where};
  std::stringstream values(text.substr(eq + 1));
  for (std::string v; std::getline(values, v, ',');) {
    if (v.empty()) throw Error(where, "an empty value in the list");
    axis.values.push_back(v);
  }
  return axis;
}

Pipeline load_pipeline(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error({path, 0, 0}, "cannot read the pipeline file");
  std::stringstream text;
  text << in.rdbuf();
  DiagnosticSink sink;
  Pipeline pipeline = parse_pipeline(path, text.str(), sink, overrides);
  if (sink.has_errors()) {  // references are checked after parsing; report everything in file order
    std::vector<Diagnostic> all = sink.diagnostics();
    std::stable_sort(all.begin(), all.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    throw Error(all);
  }
  return pipeline;
}

}  // namespace hg
