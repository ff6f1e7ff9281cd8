// `hourglass run PIPELINE`: runs a pipeline's stages in file order through the verbs' own code (a train
// stage is verb_train with the flags the stage spells out), skipping stages whose stamp says their output
// is up to date. A failed stage stops the run; the stages before it keep their outputs and stamps.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>

#include "common.h"
#include "runtime/checkpoint.h"
#include "runtime/stages.h"
#include "runtime/transfer.h"

namespace hg::tools {
namespace {

namespace fs = std::filesystem;

const char* kRunUsage =
    "PIPELINE [options]\n\n"
    "A pipeline file has one stage per line (a stage continues on indented lines):\n"
    "  stage NAME = train \"GRAPH\" [init STAGE [{ \"enc1.*\" -> \"fc1.*\", \"enc2.*\" }]]... [freeze { "
    "\"GLOB\" }]\n"
    "                             [set { epochs=5 lr=0.01 }] -> \"OUT.safetensors\"\n"
    "  stage NAME = eval STAGE [-> \"FILE.json\"]\n"
    "  stage NAME = encode STAGE node NODE [data NAME] -> \"FILE.csv|.npy|.svm\"\n"
    "Paths are relative to the pipeline's folder. A stage is skipped when OUT.stamp records the same graph\n"
    "text, stage text, upstream stages and --limit/--set/--data-dir/--plugin-dir as now.";

struct RunOptions {
  CommonOptions common;
  bool force = false, dry_run = false;
  std::string pipeline;
};

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The options a stage passes on to its verb; the stage's own settings come before the run's --set.
std::vector<std::string> verb_flags(const CommonOptions& c, const std::vector<std::string>& stage_settings) {
  std::vector<std::string> args;
  if (c.threads) args.insert(args.end(), {"--threads", std::to_string(c.threads)});
  if (c.limit) args.insert(args.end(), {"--limit", std::to_string(c.limit)});
  if (!c.data_dir.empty()) args.insert(args.end(), {"--data-dir", c.data_dir});
  for (const std::string& dir : c.plugin_dirs) args.insert(args.end(), {"--plugin-dir", dir});
  for (const std::string& s : concat(stage_settings, c.settings)) args.insert(args.end(), {"--set", s});
  return args;
}

// The flags that change results, as the fingerprint records them and the resume hint repeats them.
std::string result_flags(const CommonOptions& c) {
  std::string flags =
      c.limit ? " --limit " + std::to_string(c.limit) : "";  // each flag with a space before it
  for (const std::string& s : c.settings) flags += " --set " + s;
  if (!c.data_dir.empty()) flags += " --data-dir " + c.data_dir;
  for (const std::string& dir : c.plugin_dirs) flags += " --plugin-dir " + dir;
  return flags;
}

// What the fingerprint records: those flags, and the data folder they resolve to.
std::string fingerprint_flags(const CommonOptions& c) {
  std::error_code ignored;
  return result_flags(c) + " data=" + fs::absolute(data_dir(c), ignored).lexically_normal().string();
}

ModelOptions stage_model_options(const CommonOptions& c, const Stage& train_stage) {
  ModelOptions options = model_options(c);
  options.settings = concat(train_stage.settings, c.settings);
  return options;
}

std::string metrics_path(const std::string& out) {
  return fs::path(out).replace_extension(".metrics.jsonl").string();
}

// `train --init` takes one checkpoint. Several inits load one after another into a model of the stage's
// graph, no parameter twice, and are saved as one checkpoint that --init then reads name by name.
std::vector<std::string> merge_inits(const Pipeline& pipeline, const Stage& s, const CommonOptions& c,
                                     const std::string& merged) {
  auto threads = configure_threads(c.threads);
  ModelOptions options = stage_model_options(c, s);
  options.freeze = s.freeze;
  Model model(s.graph, options);
  std::map<std::string, std::string> loaded_by;  // parameter -> stage
  std::vector<std::string> maps;
  for (const StageInit& init : s.inits) {
    const std::string checkpoint = pipeline.find(init.stage)->out;
    std::vector<MapRule> rules;
    for (const std::string& text : init.maps) rules.push_back(parse_map_rule(text));
    const TransferPlan plan = initialize_from(checkpoint, model, rules);
    std::printf("initialized from %s (stage %s):\n", checkpoint.c_str(), init.stage.c_str());
    for (const TransferPlan::Load& l : plan.loads) {
      if (loaded_by.count(l.target))
        throw Error(init.where, "'" + l.target + "' would be loaded from both '" + loaded_by[l.target] +
                                    "' and '" + init.stage + "'");
      loaded_by[l.target] = init.stage;
      std::printf("  loaded    %s -> %s %s\n", l.source.c_str(), l.target.c_str(),
                  shape_string(l.shape).c_str());
      maps.push_back(l.target + "->" + l.target);
    }
  }
  save_checkpoint(merged, model);
  std::printf("merged into %s for train --init\n", merged.c_str());
  return maps;
}

void run_train(const Pipeline& pipeline, const Stage& s, const CommonOptions& c, bool resume) {
  std::vector<std::string> args = {s.graph, "--out", s.out, "--metrics", metrics_path(s.out)};
  for (const std::string& glob : s.freeze) args.insert(args.end(), {"--freeze", glob});
  args = concat(args, verb_flags(c, s.settings));
  if (resume) {
    verb_train(concat(args, {"--resume", s.out}));
    return;
  }
  if (s.inits.size() == 1) {
    args.insert(args.end(), {"--init", pipeline.find(s.inits[0].stage)->out});
    for (const std::string& map : s.inits[0].maps) args.insert(args.end(), {"--map", map});
  }
  const std::string merged = fs::path(s.out).replace_extension(".init.safetensors").string();
  struct Remove {
    std::string path;
    ~Remove() { fs::remove(path); }
  } remove_merged{s.inits.size() > 1 ? merged : ""};
  if (s.inits.size() > 1) {
    args.insert(args.end(), {"--init", merged});
    for (const std::string& map : merge_inits(pipeline, s, c, merged))
      args.insert(args.end(), {"--map", map});
  }
  verb_train(args);
}

// verb_eval prints its result; the stage also keeps it in its output so that a skipped stage can show it.
void run_eval(const Pipeline& pipeline, const Stage& s, const CommonOptions& c) {
  const Stage& source = *pipeline.find(s.of);
  auto threads = configure_threads(c.threads);
  Model model(source.graph, stage_model_options(c, source));
  load_checkpoint(source.out, model);
  const Dataset dataset = load_data(model.graph, "test", data_dir(c), c.limit);
  const EvalResult r = evaluate(model, dataset, model.graph.train.batch);
  const std::string summary = source.graph + " with " + source.out + " on test (" +
                              std::to_string(r.samples) + " samples): " + format_eval(r);
  std::printf("%s\n", summary.c_str());
  nlohmann::json terms = nlohmann::json::object();
  for (const auto& [name, value] : r.terms) terms[name] = value;
  nlohmann::json j = {{"stage", s.name}, {"graph", source.graph}, {"checkpoint", source.out},
                      {"data", "test"},  {"samples", r.samples},  {"loss", r.loss},
                      {"terms", terms},  {"summary", summary}};
  if (r.accuracy) j["accuracy"] = *r.accuracy;
  if (fs::path(s.out).has_parent_path()) fs::create_directories(fs::path(s.out).parent_path());
  std::ofstream out(s.out, std::ios::trunc);
  out << j.dump(2) << '\n';
  if (!out.flush()) throw Error({s.out, 0, 0}, "cannot write the evaluation result");
}

void run_encode(const Pipeline& pipeline, const Stage& s, const CommonOptions& c) {
  const Stage& source = *pipeline.find(s.of);
  verb_encode(concat({source.graph, "--ckpt", source.out, "--node", s.node, "--data", s.data, "--out", s.out},
                     verb_flags(c, source.settings)));
}

// The verbs report a bad init rule at "--map 'rule'"; in a pipeline the rule has a place in the file.
Error located_in_pipeline(const Error& e, const Stage& s) {
  std::vector<Diagnostic> diagnostics = e.diagnostics();
  for (Diagnostic& d : diagnostics)
    for (const StageInit& init : s.inits)
      for (size_t i = 0; i < init.maps.size(); ++i)
        if (d.where.line == 0 && d.where.file == "--map '" + init.maps[i] + "'")
          d.where = init.map_locations[i];
  return Error(diagnostics);
}

// What a stage does, for its header line.
std::string describe_stage(const Stage& s) {
  std::string what = stage_kind_name(s.kind) + std::string(" ");
  if (s.kind == StageKind::Train) {
    what += s.graph;
    for (const StageInit& init : s.inits) what += " init " + init.stage;
  } else {
    what += s.of;
    if (s.kind == StageKind::Encode) what += " node " + s.node + " (" + s.data + ")";
  }
  return what + " -> " + s.out;
}

StageInputs inputs_of(const Pipeline& pipeline, const Stage& s,
                      const std::map<std::string, std::string>& prints, const std::string& flags) {
  StageInputs inputs;
  inputs.graph_hash = graph_text_hash(s.kind == StageKind::Train ? s.graph : pipeline.find(s.of)->graph);
  inputs.text = s.text;
  inputs.flags = flags;
  for (const Stage* u : pipeline.upstream(s)) inputs.upstream.emplace_back(u->name, prints.at(u->name));
  return inputs;
}

// What a skipped stage shows: its output, and an evaluation's numbers.
std::string up_to_date_line(const Stage& s) {
  if (s.kind == StageKind::Eval) try {
      std::ifstream in(s.out);
      return nlohmann::json::parse(in).at("summary").get<std::string>();
    } catch (const nlohmann::json::exception&) {
    }
  return s.out;
}

// Runs one stage. The old stamp goes first and the new one is written only after success; a train stage
// also leaves a stamp marked unfinished, so that a rerun resumes its checkpoint rather than starting over.
void run_stage(const Pipeline& pipeline, const Stage& s, const CommonOptions& c, const StageInputs& inputs,
               bool resume) {
  fs::remove(stamp_path(s));
  if (fs::path(s.out).has_parent_path()) fs::create_directories(fs::path(s.out).parent_path());
  if (s.kind == StageKind::Train) {
    if (!resume) fs::remove(s.out);  // never resume a checkpoint of other inputs
    write_stamp(stamp_path(s), s.name, inputs, false);
    run_train(pipeline, s, c, resume);
  }
  if (s.kind == StageKind::Eval) run_eval(pipeline, s, c);
  if (s.kind == StageKind::Encode) run_encode(pipeline, s, c);
  write_stamp(stamp_path(s), s.name, inputs, true);
}

// Runs a stage and reports a failure with the stage's place and how to continue; returns the exit code.
int run_stage_or_report(const Pipeline& pipeline, size_t index, const RunOptions& run,
                        const StageInputs& inputs, bool resume) {
  const Stage& s = pipeline.stages[index];
  const std::string hint =
      "hourglass run: " +
      (index == 0 ? std::string("no stage has finished") : "stages before '" + s.name + "' are up to date") +
      "; rerun `hourglass run " + run.pipeline + result_flags(run.common) + "` to continue from '" + s.name +
      "'\n";
  try {
    run_stage(pipeline, s, run.common, inputs, resume);
    return 0;
  } catch (const Error& e) {
    std::fflush(stdout);  // the verb's output first
    const Error located = located_in_pipeline(e, s);
    for (const Diagnostic& d : located.diagnostics()) std::cerr << d.str();
    std::cerr << Diagnostic{Severity::Note, s.where, "in stage '" + s.name + "'", {}}.str() << hint;
    return 1;
  } catch (const po::error& e) {  // a stage's settings reach the verb as flags
    std::fflush(stdout);
    std::cerr << Diagnostic{Severity::Error, s.where, "stage '" + s.name + "': " + e.what(), {}}.str()
              << hint;
    return 1;
  } catch (const std::exception&) {
    std::fflush(stdout);
    std::cerr << hint;
    throw;  // main reports it as an internal error
  }
}

// Without a value for --help.
std::optional<RunOptions> parse_run(const std::vector<std::string>& args) {
  RunOptions run;
  po::options_description options("run options");
  options.add_options()("force", po::bool_switch(&run.force), "rerun every stage, up to date or not")(
      "dry-run", po::bool_switch(&run.dry_run), "say which stages would run and why, and run none");
  add_common_options(options, run.common);
  options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(options).add_options()("pipeline", po::value(&run.pipeline));
  po::positional_options_description positional;
  positional.add("pipeline", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << "usage: hourglass run " << kRunUsage << "\n\n" << options << "\n";
    return std::nullopt;
  }
  if (run.pipeline.empty()) throw po::error("missing the PIPELINE file; see 'hourglass run --help'");
  return run;
}

}  // namespace

int verb_run(const std::vector<std::string>& args) {
  const std::optional<RunOptions> run = parse_run(args);
  if (!run) return 0;
  configure_threads(run->common.threads);  // checks --threads before any stage
  const Pipeline pipeline = load_pipeline(run->pipeline);
  const std::string flags = fingerprint_flags(run->common);
  std::map<std::string, std::string> prints;  // stage -> fingerprint
  std::vector<std::string> rerun;
  size_t skipped = 0;
  for (size_t i = 0; i < pipeline.stages.size(); ++i) {
    const Stage& s = pipeline.stages[i];
    const StageInputs inputs = inputs_of(pipeline, s, prints, flags);
    prints[s.name] = inputs.fingerprint();
    const std::string reason =
        run_reason(s, inputs, read_stamp(stamp_path(s)), fs::exists(s.out), rerun, run->force);
    if (reason.empty()) {
      std::printf("[stage %s] up to date: %s\n", s.name.c_str(), up_to_date_line(s).c_str());
      ++skipped;
      continue;
    }
    rerun.push_back(s.name);
    const bool resume = s.kind == StageKind::Train && reason == "did not finish";
    std::printf("[stage %s] %s%s (%s%s)\n", s.name.c_str(), run->dry_run ? "would run: " : "",
                describe_stage(s).c_str(), reason.c_str(), resume ? "; resuming its checkpoint" : "");
    std::fflush(stdout);
    if (run->dry_run) continue;
    if (const int status = run_stage_or_report(pipeline, i, *run, inputs, resume)) return status;
  }
  std::printf("%s: %zu stage%s %s, %zu up to date\n", run->pipeline.c_str(), rerun.size(),
              rerun.size() == 1 ? "" : "s", run->dry_run ? "would run" : "ran", skipped);
  return 0;
}

}  // namespace hg::tools
