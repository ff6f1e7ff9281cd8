// Pipeline files: the parser (on the graph language's lexer), reference checks, fingerprints and stamps.
#include "runtime/stages.h"

#include <algorithm>
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

const std::vector<std::string> kKinds = {"train", "eval", "encode"};
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
      const std::string kind = this->name("train, eval or encode after '='");
      if (kind == "train")
        parse_train(s);
      else if (kind == "eval")
        parse_eval(s);
      else if (kind == "encode")
        parse_encode(s);
      else
        fail(kind_where, "unknown stage kind '" + kind + "'" + did_you_mean(kind, kKinds) +
                             "; a stage is train, eval or encode");
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
    StageInit init{"", peek().location, {}, {}};
    init.stage = name("the stage to initialize from after 'init'");
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

// Each stage's references, with where they are written.
std::vector<std::pair<std::string, SourceLocation>> references(const Stage& s) {
  std::vector<std::pair<std::string, SourceLocation>> out;
  for (const StageInit& init : s.inits) out.emplace_back(init.stage, init.where);
  if (!s.of.empty()) out.emplace_back(s.of, s.of_where);
  return out;
}

// A path from `from` back to `to` through references, as "b -> c -> a", or "" when there is none.
std::string path_back(const std::vector<Stage>& stages, const std::string& from, const std::string& to,
                      std::vector<std::string>& seen) {
  if (from == to) return to;
  if (std::find(seen.begin(), seen.end(), from) != seen.end()) return "";
  seen.push_back(from);
  for (const Stage& s : stages)
    if (s.name == from)
      for (const auto& [name, where] : references(s)) {
        const std::string rest = path_back(stages, name, to, seen);
        if (!rest.empty()) return from + " -> " + rest;
      }
  return "";
}

// Unknown, duplicate, forward and cyclic references, and references to stages of the wrong kind. `broken`
// stages did not parse: their errors are out already, so references to them pass silently.
void check_references(const std::vector<Stage>& stages, const std::vector<std::string>& broken,
                      DiagnosticSink& sink) {
  std::vector<std::string> names = broken;
  for (size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    for (size_t j = 0; j < i; ++j)
      if (stages[j].name == s.name)
        sink.error(s.where, "stage '" + s.name + "' is already defined")
            .notes.push_back({Severity::Note, stages[j].where, "first defined here", {}});
    for (size_t j = 0; j < i; ++j)
      if (!stages[j].out.empty() && stages[j].out == s.out)
        sink.error(s.where, "'" + s.out + "' is already the output of stage '" + stages[j].name + "'");
    names.push_back(s.name);
  }
  for (size_t i = 0; i < stages.size(); ++i) {
    const Stage& s = stages[i];
    for (const auto& [name, where] : references(s)) {
      const auto target = std::find_if(stages.begin(), stages.end(),
                                       [&name = name](const Stage& t) { return t.name == name; });
      if (target == stages.end()) {
        if (std::find(broken.begin(), broken.end(), name) != broken.end()) continue;
        sink.error(where, "unknown stage '" + name + "'" + did_you_mean(name, names));
        continue;
      }
      if (size_t(target - stages.begin()) >= i) {
        std::vector<std::string> seen;
        const std::string cycle = path_back(stages, name, s.name, seen);
        if (!cycle.empty()) {
          sink.error(where,
                     "cycle: stage '" + s.name + "' depends on itself (" + s.name + " -> " + cycle + ")");
          continue;
        }
        sink.error(where, "stage '" + name + "' is used before it is defined; stages run in file order")
            .notes.push_back({Severity::Note, target->where, "'" + name + "' is defined here", {}});
        continue;
      }
      if (target->kind != StageKind::Train)
        sink.error(where, "stage '" + name + "' is an " + stage_kind_name(target->kind) + " stage; " +
                              stage_kind_name(s.kind) + (s.kind == StageKind::Train ? " init" : "") +
                              " needs a train stage's checkpoint")
            .notes.push_back({Severity::Note, target->where, "'" + name + "' is defined here", {}});
    }
  }
}

}  // namespace

const char* stage_kind_name(StageKind kind) {
  switch (kind) {
    case StageKind::Train:
      return "train";
    case StageKind::Eval:
      return "eval";
    case StageKind::Encode:
      return "encode";
  }
  return "?";
}

const Stage* Pipeline::find(const std::string& name) const {
  for (const Stage& s : stages)
    if (s.name == name) return &s;
  return nullptr;
}

std::vector<const Stage*> Pipeline::upstream(const Stage& stage) const {
  std::vector<const Stage*> out;
  for (const auto& [name, where] : references(stage)) {
    const Stage* s = find(name);
    if (s && std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

Pipeline parse_pipeline(const std::string& file, const std::string& text, DiagnosticSink& sink) {
  Pipeline pipeline{file, {}};
  const std::string folder = std::filesystem::path(file).parent_path().string();
  const std::vector<Token> tokens = pipeline_tokens(file, text);
  const size_t errors_before = sink.count();
  std::vector<std::string> broken;  // names of stages that did not parse
  size_t i = 0;
  while (tokens[i].kind != TokenKind::End) {
    if (tokens[i].kind == TokenKind::Newline) {
      ++i;
      continue;
    }
    const bool starts = tokens[i].kind == TokenKind::Name && tokens[i].text == "stage";
    if (!starts) {  // report once, then look for the next line that starts a stage
      const Token& t = tokens[i];
      sink.error(t.location, t.kind == TokenKind::Invalid
                                 ? t.value
                                 : "expected a line starting with 'stage', found " + describe(t) +
                                       (t.kind == TokenKind::Name ? did_you_mean(t.text, {"stage"}) : ""));
    }
    // A stage runs on over indented lines; it ends before a line that starts at column 1 or with `stage`.
    std::vector<Token> statement{tokens[i]};
    size_t last = i++;  // the statement's last token; the Newline after it marks the stage's end
    for (; tokens[i].kind != TokenKind::End; ++i) {
      const bool line_start = tokens[i - 1].kind == TokenKind::Newline;
      if (line_start && (tokens[i].location.column == 1 ||
                         (tokens[i].kind == TokenKind::Name && tokens[i].text == "stage")))
        break;
      if (tokens[i].kind != TokenKind::Newline) statement.push_back(tokens[last = i]);
    }
    if (!starts) continue;
    statement.push_back(tokens[last + 1]);
    std::string name;
    std::optional<Stage> stage = StageParser(std::move(statement), folder, sink).parse(name);
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

Pipeline load_pipeline(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error({path, 0, 0}, "cannot read the pipeline file");
  std::stringstream text;
  text << in.rdbuf();
  DiagnosticSink sink;
  Pipeline pipeline = parse_pipeline(path, text.str(), sink);
  if (sink.has_errors()) {  // references are checked after parsing; report everything in file order
    std::vector<Diagnostic> all = sink.diagnostics();
    std::stable_sort(all.begin(), all.end(), [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
    });
    throw Error(all);
  }
  return pipeline;
}

std::string StageInputs::fingerprint() const {
  std::string all = graph_hash + '\n' + text + '\n' + flags + '\n';
  for (const auto& [name, print] : upstream) all += name + '=' + print + '\n';
  return fnv1a_hex(all);
}

std::string graph_text_hash(const std::string& path) {
  DiagnosticSink sink;
  const ast::Program program = parse_graph_file(path, sink);
  if (!sink.has_errors()) return fnv1a_hex(program.source_text);
  std::string errors;
  for (const Diagnostic& d : sink.diagnostics()) errors += d.str();
  return "error-" + fnv1a_hex(errors);
}

std::string stamp_path(const Stage& stage) {
  return stage.out + ".stamp";
}

std::optional<Stamp> read_stamp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(in);
    Stamp stamp;
    stamp.complete = j.at("complete").get<bool>();
    stamp.inputs.graph_hash = j.at("graph_hash").get<std::string>();
    stamp.inputs.text = j.at("stage_text").get<std::string>();
    stamp.inputs.flags = j.at("flags").get<std::string>();
    for (const auto& item : j.at("upstream"))
      stamp.inputs.upstream.emplace_back(item.at(0).get<std::string>(), item.at(1).get<std::string>());
    if (stamp.inputs.fingerprint() != j.at("fingerprint").get<std::string>()) return std::nullopt;
    return stamp;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // a damaged stamp only means the stage runs again
  }
}

void write_stamp(const std::string& path, const std::string& stage, const StageInputs& inputs,
                 bool complete) {
  nlohmann::json upstream = nlohmann::json::array();
  for (const auto& [name, print] : inputs.upstream) upstream.push_back({name, print});
  const nlohmann::json j = {{"stage", stage},
                            {"fingerprint", inputs.fingerprint()},
                            {"complete", complete},
                            {"graph_hash", inputs.graph_hash},
                            {"stage_text", inputs.text},
                            {"flags", inputs.flags},
                            {"upstream", upstream}};
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << j.dump(2) << '\n';
    if (!out.flush()) throw Error({path, 0, 0}, "cannot write the stage's stamp");
  }
  std::filesystem::rename(temporary, path);
}

std::string run_reason(const Stage& stage, const StageInputs& now, const std::optional<Stamp>& stamp,
                       bool output_exists, const std::vector<std::string>& rerun, bool force) {
  if (force) return "--force";
  if (!output_exists) return "no output yet";
  if (!stamp) return "no stamp from a finished run";
  for (const auto& [name, print] : now.upstream)
    if (std::find(rerun.begin(), rerun.end(), name) != rerun.end()) return "'" + name + "' reran";
  const StageInputs& then = stamp->inputs;
  if (then.text != now.text) return "stage '" + stage.name + "' changed";
  if (then.graph_hash != now.graph_hash) return "graph changed";
  if (then.flags != now.flags) return "run flags changed";
  if (then.upstream != now.upstream) {
    for (const auto& [name, print] : now.upstream) {
      const auto was = std::find_if(then.upstream.begin(), then.upstream.end(),
                                    [&name = name](const auto& u) { return u.first == name; });
      if (was == then.upstream.end() || was->second != print) return "'" + name + "' changed";
    }
    return "its inputs changed";
  }
  if (!stamp->complete) return "did not finish";
  return "";
}

}  // namespace hg
