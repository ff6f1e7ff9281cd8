// `hourglass run PIPELINE`: runs a pipeline's stages in file order through the verbs' own code (a train
// stage is verb_train with the flags the stage spells out), skipping stages whose stamp says their output
// is up to date. A failed stage stops the run; the stages before it keep their outputs and stamps.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "common.h"
#include "runtime/checkpoint.h"
#include "runtime/distributed.h"
#include "runtime/stages.h"
#include "runtime/summary.h"
#include "runtime/transfer.h"

namespace hg::tools {
namespace {

namespace fs = std::filesystem;

const char* kRunUsage =
    "PIPELINE [options]\n\n"
    "A pipeline file has one statement per line (a statement continues on indented lines):\n"
    "  param NAME = VALUE         used as {NAME} in strings and as a bare NAME for a setting's value\n"
    "  sweep { NAME = V1, V2 ... } run every combination of these values\n"
    "  stage NAME = train \"GRAPH\" [init STAGE [{ \"enc1.*\" -> \"fc1.*\", \"enc2.*\" }]]... [freeze { "
    "\"GLOB\" }]\n"
    "                             [set { epochs=5 lr=0.01 seed=seed }] -> \"OUT.safetensors\"\n"
    "  stage NAME = eval STAGE [-> \"FILE.json\"]\n"
    "  stage NAME = encode STAGE node NODE [data NAME] -> \"FILE.csv|.npy|.svm\"\n"
    "  stage NAME = summary [{ EVAL_A - EVAL_B, ... }] -> \"OUT\"   (OUT.md, .csv, .json after the whole "
    "sweep)\n"
    "Paths are relative to the pipeline's folder. A stage is skipped when OUT.stamp records the same graph\n"
    "text, stage text (parameters substituted), upstream stages and --limit/--set/--data-dir/--plugin-dir as "
    "now.";

struct RunOptions {
  CommonOptions common;
  bool force = false, dry_run = false;
  std::string pipeline;
  std::vector<std::string> params, sweeps;  // --param NAME=VALUE, --sweep NAME=v1,v2
  int jobs = 1;                             // --jobs: independent stages at once, in child processes
  std::string only;                         // hidden --stage NAME: a --jobs child runs just this stage
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

// The flags that repeat this run: those that change results, and the parameters and sweeps.
std::string run_flags(const RunOptions& run) {
  std::string flags = result_flags(run.common);
  for (const std::string& p : run.params) flags += " --param " + p;
  for (const std::string& p : run.sweeps) flags += " --sweep " + p;
  return flags;
}

ModelOptions stage_model_options(const CommonOptions& c, const Stage& train_stage) {
  ModelOptions options = model_options(c);
  options.settings = concat(train_stage.settings, c.settings);
  return options;
}

std::string metrics_path(const std::string& out) {
  return fs::path(out).replace_extension(".metrics.jsonl").string();
}

// A train stage as the typed job the train verb runs: its inits are loaded from their checkpoints one
// after another, and an unfinished run continues from its last checkpoint.
void run_train(const Pipeline& pipeline, const Stage& s, const CommonOptions& c, bool resume) {
  TrainJob job;
  job.graph = s.graph;
  job.out = s.out;
  job.force = true;  // the stage owns its output: a rerun replaces it
  job.metrics = metrics_path(s.out);
  job.freeze = s.freeze;
  job.common = c;
  job.common.settings = concat(s.settings, c.settings);
  if (resume) {
    job.resume = fs::exists(last_checkpoint(s.out)) ? last_checkpoint(s.out) : s.out;
  } else {
    for (const StageInit& init : s.inits)
      job.inits.push_back(init.stage.empty() ? TrainJob::Init{init.checkpoint, init.maps, "", init.where}
                                             : TrainJob::Init{pipeline.find(init.stage)->out, init.maps,
                                                              "stage " + init.stage, init.where});
  }
  run_train_job(job);
}

// verb_eval prints its result; the stage also keeps it in its output so that a skipped stage can show it,
// with what a summary needs: the pipeline's parameters, the epoch `select` kept with its held-out figures,
// and the training stage's wall time from its stamp.
void run_eval(const Pipeline& pipeline, const Stage& s, const CommonOptions& c) {
  const Stage& source = *pipeline.find(s.of);
  auto threads = configure_threads(c.threads);
  Model model(source.graph, stage_model_options(c, source));
  const std::map<std::string, std::string> metadata = load_checkpoint(source.out, model);
  const Dataset dataset = load_data(model.graph, "test", data_dir(c), c.limit);
  const EvalResult r = evaluate(model, dataset, model.graph.train.batch);
  const std::string summary = source.graph + " with " + source.out + " on test (" +
                              std::to_string(r.samples) + " samples): " + format_eval(r);
  std::printf("%s\n", summary.c_str());
  nlohmann::json terms = nlohmann::json::object();
  for (const auto& [name, value] : r.terms) terms[name] = value;
  nlohmann::json params = nlohmann::json::object();
  for (const PipelineParam& p : pipeline.params) params[p.name] = p.value;
  nlohmann::json j = {{"stage", s.name}, {"graph", source.graph}, {"checkpoint", source.out},
                      {"data", "test"},  {"samples", r.samples},  {"loss", r.loss},
                      {"terms", terms},  {"summary", summary},    {"params", params}};
  if (r.accuracy) j["accuracy"] = *r.accuracy;
  nlohmann::json figures = {{"test_loss", r.loss}};
  if (r.accuracy) figures["test_accuracy"] = *r.accuracy;
  if (const auto at = metadata.find("selection"); at != metadata.end()) {
    const Selection selection = Selection::from_json(at->second);
    figures["selected_epoch"] = selection.best_epoch;
    for (const NamedEval& e : selection.best_evals) {
      if (e.data == "test") continue;  // scored above, on the same weights
      figures[e.data + "_loss"] = e.result.loss;
      if (e.result.accuracy) figures[e.data + "_accuracy"] = *e.result.accuracy;
    }
  }
  if (const std::optional<Stamp> stamp = read_stamp(stamp_path(source)); stamp && stamp->complete)
    figures["train_seconds"] = stamp->seconds;
  j["figures"] = figures;
  if (fs::path(s.out).has_parent_path()) fs::create_directories(fs::path(s.out).parent_path());
  write_file_atomically(s.out, j.dump(2) + "\n");
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
    for (const StageInit& init : s.inits)
      what += " init " + (init.stage.empty() ? init.checkpoint : init.stage);
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
  for (const StageInit& init : s.inits)  // a checkpoint file: its bytes, so that a new file reruns the stage
    if (init.stage.empty())
      inputs.upstream.emplace_back("file " + init.checkpoint, file_hash(init.checkpoint));
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

// Runs one stage. The old stamp goes first and the new one, with the stage's wall time, is written only
// after success; a train stage also leaves a stamp marked unfinished, so that a rerun resumes its checkpoint
// rather than starting over.
//
// Under mpirun every rank runs a train stage (data-parallel) and rank 0 alone the others; rank 0 alone
// writes files, stamps included.
void run_stage(const Pipeline& pipeline, const Stage& s, const CommonOptions& c, const StageInputs& inputs,
               bool resume) {
  const auto start = std::chrono::steady_clock::now();
  const bool writes = process_group().leader();
  if (writes) {
    fs::remove(stamp_path(s));
    if (fs::path(s.out).has_parent_path()) fs::create_directories(fs::path(s.out).parent_path());
  }
  if (s.kind == StageKind::Train) {
    if (!resume && writes) {  // never resume a checkpoint of other inputs
      fs::remove(s.out);
      fs::remove(last_checkpoint(s.out));
    }
    if (writes) write_stamp(stamp_path(s), s.name, inputs, false);
    run_train(pipeline, s, c, resume);
  }
  if (!writes) return;
  if (s.kind == StageKind::Eval) run_eval(pipeline, s, c);
  if (s.kind == StageKind::Encode) run_encode(pipeline, s, c);
  write_stamp(stamp_path(s), s.name, inputs, true,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

// Runs a stage and reports a failure with the stage's place and how to continue; returns the exit code.
int run_stage_or_report(const Pipeline& pipeline, size_t index, const RunOptions& run,
                        const StageInputs& inputs, bool resume) {
  const Stage& s = pipeline.stages[index];
  const std::string hint =
      "hourglass run: " +
      (index == 0 ? std::string("no stage has finished") : "stages before '" + s.name + "' are up to date") +
      "; rerun `hourglass run " + run.pipeline + run_flags(run) + "` to continue from '" + s.name + "'\n";
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
      "dry-run", po::bool_switch(&run.dry_run), "say which stages would run and why, and run none")(
      "param", po::value(&run.params)->value_name("NAME=VALUE")->composing(),
      "override the pipeline's `param NAME = VALUE` (repeatable)")(
      "sweep", po::value(&run.sweeps)->value_name("NAME=V1,V2,...")->composing(),
      "run the pipeline once per value of a parameter; several --sweep run the grid, and replace the file's "
      "sweep block axis by axis (repeatable)")(
      "jobs", po::value(&run.jobs)->value_name("N"),
      "run up to N independent stages at the same time, each in its own process with --threads/N threads "
      "(at least 1); results are the bytes a --jobs 1 run with that many threads writes");
  add_common_options(options, run.common);
  options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(options).add_options()("pipeline", po::value(&run.pipeline))("stage", po::value(&run.only));
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
  if (run.jobs < 1 || run.jobs > 256) throw po::error("--jobs must be between 1 and 256");
  if (run.jobs > 1 && process_group().size() > 1)
    throw po::error(
        "--jobs runs stages in child processes, which cannot join an MPI job; under mpirun "
        "the processes already share each train stage, so leave --jobs out");
  return run;
}

// A summary stage's table over every evaluation the run's grid wrote, as markdown, CSV and JSON.
void run_summary(const Stage& s, const std::vector<std::string>& evaluations) {
  std::vector<EvalRecord> records;
  for (const std::string& path : evaluations) records.push_back(read_eval_record(path));
  std::vector<SummaryPair> pairs;
  for (const auto& [a, b] : s.pairs) pairs.push_back({a, b});
  write_summary(summarize(records, pairs), s.out);
}

// The threads each stage gets under --jobs: an equal share, fixed whatever else runs, so that a stage's
// bytes do not depend on the schedule.
int thread_share(const RunOptions& run) {
  const int threads =
      run.common.threads ? run.common.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, threads / run.jobs);
}

// A --jobs child: this program again, running one stage of one configuration with its share of threads.
// Its output goes to `log`, printed whole when it ends, so that stages running together do not interleave.
pid_t spawn_stage(const RunOptions& run, const std::vector<std::string>& overrides, const Stage& s,
                  const std::string& log) {
  std::vector<std::string> args = {
      "hourglass", "run", run.pipeline, "--stage", s.name, "--threads", std::to_string(thread_share(run))};
  if (run.force) args.push_back("--force");
  if (run.common.limit) args.insert(args.end(), {"--limit", std::to_string(run.common.limit)});
  if (!run.common.data_dir.empty()) args.insert(args.end(), {"--data-dir", run.common.data_dir});
  for (const std::string& dir : run.common.plugin_dirs) args.insert(args.end(), {"--plugin-dir", dir});
  for (const std::string& setting : run.common.settings) args.insert(args.end(), {"--set", setting});
  for (const std::string& o : overrides) args.insert(args.end(), {"--param", o});
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  const int failed = posix_spawn(&pid, "/proc/self/exe", &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  if (failed)
    throw Error({run.pipeline, 0, 0}, std::string("cannot start a stage process: ") + std::strerror(failed));
  return pid;
}

// Runs one configuration's stages; returns the exit code. `evaluations` collects the eval stages' outputs
// for the summaries. Stages run in file order, or with --jobs as soon as the stages they read are done.
int run_configuration(const Pipeline& pipeline, const RunOptions& run,
                      const std::vector<std::string>& overrides, std::vector<std::string>& evaluations,
                      size_t& ran, size_t& skipped) {
  const std::string flags = fingerprint_flags(run.common);
  std::map<std::string, std::string> prints;  // stage -> fingerprint
  std::vector<std::string> rerun;
  std::vector<size_t> scheduled;  // --jobs: the stages to run, in file order
  for (size_t i = 0; i < pipeline.stages.size(); ++i) {
    const Stage& s = pipeline.stages[i];
    if (s.kind == StageKind::Summary) continue;  // after the whole grid
    const StageInputs inputs = inputs_of(pipeline, s, prints, flags);
    prints[s.name] = inputs.fingerprint();
    if (!run.only.empty() && s.name != run.only) continue;
    if (s.kind == StageKind::Eval &&
        std::find(evaluations.begin(), evaluations.end(), s.out) == evaluations.end())
      evaluations.push_back(s.out);
    const std::string reason =
        run_reason(s, inputs, read_stamp(stamp_path(s)), fs::exists(s.out), rerun, run.force);
    if (reason.empty()) {
      std::printf("[stage %s] up to date: %s\n", s.name.c_str(), up_to_date_line(s).c_str());
      ++skipped;
      continue;
    }
    rerun.push_back(s.name);
    ++ran;
    const bool resume = s.kind == StageKind::Train && reason == "did not finish";
    std::printf("[stage %s] %s%s (%s%s)\n", s.name.c_str(), run.dry_run ? "would run: " : "",
                describe_stage(s).c_str(), reason.c_str(), resume ? "; resuming its checkpoint" : "");
    std::fflush(stdout);
    if (run.dry_run) continue;
    if (run.jobs > 1 && run.only.empty()) {
      scheduled.push_back(i);
      continue;
    }
    // Under mpirun the ranks go on together: the others wait here while rank 0 runs a stage alone, and the
    // next stage's decision reads the stamps this one wrote. A failure on any rank stops every rank.
    int status = run_stage_or_report(pipeline, i, run, inputs, resume);
    status = process_group().agree(status);
    if (status) return status;
  }
  // --jobs: a stage starts once no stage it reads is still to run; each child decides from the stamps
  // again, which the stages before it have just written.
  std::vector<size_t> pending = scheduled;
  std::map<pid_t, std::pair<size_t, std::string>> running;  // child -> (stage, its log)
  int status = 0;
  auto waiting_on = [&](size_t i) {
    for (const Stage* u : pipeline.upstream(pipeline.stages[i]))
      for (size_t j : pending)
        if (pipeline.stages[j].name == u->name) return true;
    for (const auto& child : running)
      for (const Stage* u : pipeline.upstream(pipeline.stages[i]))
        if (pipeline.stages[child.second.first].name == u->name) return true;
    return false;
  };
  while (!running.empty() || (!pending.empty() && status == 0)) {
    for (auto it = pending.begin(); status == 0 && it != pending.end() && int(running.size()) < run.jobs;) {
      if (waiting_on(*it)) {
        ++it;
        continue;
      }
      const Stage& s = pipeline.stages[*it];
      const std::string log = (fs::temp_directory_path() /
                               ("hourglass-" + std::to_string(getpid()) + "-" + std::to_string(*it) + ".log"))
                                  .string();
      running[spawn_stage(run, overrides, s, log)] = {*it, log};
      it = pending.erase(it);
    }
    int wstatus = 0;
    const pid_t done = waitpid(-1, &wstatus, 0);
    if (done < 0) break;
    const auto child = running.find(done);
    if (child == running.end()) continue;
    const Stage& s = pipeline.stages[child->second.first];
    std::printf("[stage %s] finished; its output:\n", s.name.c_str());
    std::fflush(stdout);
    {
      std::ifstream in(child->second.second);
      std::cout << in.rdbuf() << std::flush;
    }
    fs::remove(child->second.second);
    const int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 3;
    if (code != 0 && status == 0) status = code;  // let the running stages finish, start no more
    running.erase(child);
  }
  if (status != 0 && !pending.empty()) {
    std::string names;
    for (size_t i : pending) names += (names.empty() ? "'" : ", '") + pipeline.stages[i].name + "'";
    std::fprintf(stderr, "hourglass run: a stage failed, so %s did not start\n", names.c_str());
  }
  return status;
}

}  // namespace

int verb_run(const std::vector<std::string>& args) {
  const std::optional<RunOptions> run = parse_run(args);
  if (!run) return 0;
  configure_threads(run->common.threads);  // checks --threads before any stage
  // The sweep: the file's block, with each --sweep replacing its axis or adding one.
  // A --jobs child gets its configuration as --param flags, and runs no sweep.
  std::vector<SweepAxis> axes;
  if (run->only.empty()) axes = load_pipeline(run->pipeline, run->params).sweep;
  for (const std::string& text : run->sweeps) {
    const SweepAxis axis = parse_sweep_flag(text);
    const auto same =
        std::find_if(axes.begin(), axes.end(), [&](const SweepAxis& a) { return a.name == axis.name; });
    if (same != axes.end())
      *same = axis;
    else
      axes.push_back(axis);
  }
  const std::vector<std::vector<std::string>> grid = sweep_grid(axes);
  std::vector<Pipeline> configurations;  // parsed before anything runs: an error anywhere runs nothing
  for (const std::vector<std::string>& combination : grid)
    configurations.push_back(load_pipeline(run->pipeline, concat(run->params, combination)));
  std::vector<std::string> evaluations;
  size_t ran = 0, skipped = 0;
  for (size_t k = 0; k < grid.size(); ++k) {
    if (grid.size() > 1) {
      std::string label;
      for (const std::string& setting : grid[k]) label += (label.empty() ? "" : " ") + setting;
      std::printf("== %s (%zu of %zu)\n", label.c_str(), k + 1, grid.size());
    }
    if (const int status = run_configuration(configurations[k], *run, concat(run->params, grid[k]),
                                             evaluations, ran, skipped))
      return status;
  }
  if (!run->only.empty()) return 0;  // a --jobs child: the parent reports and summarizes
  for (const Stage& s : configurations.back().stages) {
    if (s.kind != StageKind::Summary) continue;
    std::printf("[stage %s] %ssummary of %zu evaluation%s -> %s.md, .csv, .json\n", s.name.c_str(),
                run->dry_run ? "would write: " : "", evaluations.size(), evaluations.size() == 1 ? "" : "s",
                s.out.c_str());
    if (run->dry_run || !process_group().leader()) continue;
    try {
      run_summary(s, evaluations);
      std::printf("%s", read_text(s.out + ".md").c_str());
    } catch (const Error& e) {
      for (const Diagnostic& d : e.diagnostics()) std::cerr << d.str();
      std::cerr << Diagnostic{Severity::Note, s.where, "in stage '" + s.name + "'", {}}.str();
      return 1;
    }
  }
  std::printf("%s: %zu stage%s %s, %zu up to date\n", run->pipeline.c_str(), ran, ran == 1 ? "" : "s",
              run->dry_run ? "would run" : "ran", skipped);
  return 0;
}

}  // namespace hg::tools
