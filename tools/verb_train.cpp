// `hourglass train GRAPH`: train with a live progress line, write per-epoch metrics as JSON lines and, after
// every epoch, a safetensors checkpoint that --resume continues. --init/--map/--freeze start from another
// graph's weights (the pretraining -> fine-tuning step).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "common.h"
#include "curves.h"
#include "runtime/checkpoint.h"
#include "runtime/distributed.h"
#include "runtime/transfer.h"

namespace hg::tools {

// A term map as JSON: each term's unweighted mean under its key (term_keys keeps two uses apart).
static nlohmann::ordered_json json_terms(const EvalResult& r) {
  nlohmann::ordered_json terms = nlohmann::ordered_json::object();
  for (const auto& [key, value] : r.terms) terms[key] = value;
  return terms;
}

// One metrics-log line. nlohmann writes a NaN or infinity (a diverged run) as null, so every line stays
// valid JSON, and names are never cut. Held-out sets appear as <name>_loss, <name>_terms, <name>_accuracy.
static std::string json_line(const EpochReport& e, bool selecting) {
  nlohmann::ordered_json j = {
      {"epoch", e.epoch},      {"seconds", e.seconds},       {"samples_per_second", e.samples_per_second},
      {"lr", e.learning_rate}, {"train_loss", e.train.loss}, {"train_terms", json_terms(e.train)}};
  for (const NamedEval& n : e.evals) {
    j[n.data + "_loss"] = n.result.loss;
    j[n.data + "_terms"] = json_terms(n.result);
    if (n.result.accuracy) j[n.data + "_accuracy"] = *n.result.accuracy;
  }
  if (selecting && !e.evals.empty()) j["best"] = e.best;
  return j.dump() + "\n";
}

static void print_transfer(const std::string& checkpoint, const TransferPlan& plan, const Model& model) {
  for (const std::string& note : plan.notes) std::printf("%s: note: %s\n", checkpoint.c_str(), note.c_str());
  std::printf("initialized from %s:\n", checkpoint.c_str());
  for (const TransferPlan::Load& l : plan.loads)
    std::printf("  loaded    %s -> %s %s\n", l.source.c_str(), l.target.c_str(),
                shape_string(l.shape).c_str());
  for (const std::string& name : plan.untouched)
    std::printf("  left at initialization  %s %s\n", name.c_str(),
                shape_string(model.parameters.slot(name)->dims).c_str());
}

static void print_frozen(const Model& model, const char* indent) {
  std::string frozen;
  for (const ParameterSlot& s : model.parameters.slots())
    if (!s.trainable) frozen += (frozen.empty() ? "" : ", ") + s.name;
  if (!frozen.empty()) std::printf("%sfrozen    %s\n", indent, frozen.c_str());
}

// --init, --map, --freeze and --resume, checked together before any work.
struct StartOptions {
  std::string init, resume;
  std::vector<std::string> maps, freeze;
  void check() {
    if (!init.empty() && !resume.empty())
      throw po::error("--init and --resume exclude each other: --resume restores all parameters");
    if (!maps.empty() && init.empty()) throw po::error("--map needs --init CKPT to map names from");
    for (const std::string& text : maps) try {
        parse_map_rule(text);
      } catch (const Error& e) {
        throw po::error(e.diagnostics()[0].where.str() + ": " + e.diagnostics()[0].message);
      }
  }
};

void print_profile(const StepProfile& p) {
  double total = p.between_steps + p.mpi;
  for (const StepProfile::Part& part : p.parts) total += part.seconds;
  std::printf("profile: mean wall time per training step over %lld steps (the first left out)\n",
              (long long)p.steps);
  std::printf("  %9s  %6s  %s\n", "ms", "share", "step of the plan");
  auto row = [&](double seconds, const std::string& what) {
    std::printf("  %9.4f  %5.1f%%  %s\n", seconds * 1e3, total > 0 ? 100 * seconds / total : 0.0,
                what.c_str());
  };
  for (const StepProfile::Part& part : p.parts) row(part.seconds, part.name);
  row(p.between_steps, "between steps: data hand-off, seeds, loss bookkeeping");
  if (p.processes > 1)
    row(p.mpi, "inside MPI with the other " + std::to_string(p.processes - 1) +
                   " process(es): gradient sums not hidden behind backward");
  row(total, "total");
}

// A selection's outcome: the epoch kept in OUT with every held-out set's figures at it.
static void print_selection(const Model& model) {
  const TrainSettings& t = model.graph.train;
  const Selection& s = model.selection;
  if (s.best_epoch == 0) {
    std::printf("select: no epoch scored a number on %s %s, so the last epoch is kept\n",
                t.select_data.c_str(), t.select_metric.c_str());
    return;
  }
  std::printf("selected epoch %lld of %lld by best(%s, %s)", (long long)s.best_epoch, (long long)model.epoch,
              t.select_data.c_str(), t.select_metric.c_str());
  if (s.stopped)
    std::printf(", stopped early: no improvement in %lld epochs", (long long)(model.epoch - s.best_epoch));
  std::printf("\n");
  for (const NamedEval& e : s.best_evals)
    std::printf("  %s  %s\n", e.data.c_str(), format_eval(e.result).c_str());
}

std::string last_checkpoint(const std::string& out) {
  return out + ".last";
}

void run_train_job(const TrainJob& job) {
  auto threads = configure_threads(job.common.threads);
  ModelOptions model_settings = model_options(job.common);
  model_settings.freeze = job.freeze;
  Model model(job.graph, model_settings);
  const bool selecting = !model.graph.train.select_data.empty();
  const std::string last = selecting ? last_checkpoint(job.out) : job.out;
  if (!job.resume.empty()) {
    for (const std::string& note : resume_checkpoint(job.resume, model))
      std::printf("%s: note: %s\n", job.resume.c_str(), note.c_str());
    const CheckpointFile resumed(job.resume);
    if (const std::string warning = schedule_stretch_warning(resumed.metadata(), model); !warning.empty())
      std::fprintf(stderr, "%s: warning: %s\n", job.resume.c_str(), warning.c_str());
    const std::string state = resumed.metadata("selection");
    if (selecting && !state.empty()) model.selection = Selection::from_json(state);
    std::printf("resuming %s after epoch %lld (step %lld)\n", job.resume.c_str(), (long long)model.epoch,
                (long long)model.parameters.step);
  }
  if (job.resume.empty() && !job.force)  // before any work: an hour of training must not end in this error
    if (const std::string note = check_fresh_output(job.out, model); !note.empty())
      std::printf("%s: note: %s\n", job.out.c_str(), note.c_str());
  // Several inits load one after another from their own files; no parameter may come from two.
  std::map<std::string, std::string> loaded_by;
  for (const TrainJob::Init& init : job.inits) {
    std::vector<MapRule> rules;
    for (const std::string& text : init.maps) rules.push_back(parse_map_rule(text));
    const TransferPlan plan = initialize_from(init.checkpoint, model, rules);
    const std::string name = init.label.empty() ? init.checkpoint : init.label;
    for (const TransferPlan::Load& l : plan.loads) {
      if (loaded_by.count(l.target))
        throw Error(init.where,
                    "'" + l.target + "' would be loaded from both " + loaded_by[l.target] + " and " + name);
      loaded_by[l.target] = name;
    }
    if (job.inits.size() == 1) {
      print_transfer(init.checkpoint, plan, model);
      continue;
    }
    std::printf("initialized from %s (%s):\n", init.checkpoint.c_str(), name.c_str());
    for (const TransferPlan::Load& l : plan.loads)
      std::printf("  loaded    %s -> %s %s\n", l.source.c_str(), l.target.c_str(),
                  shape_string(l.shape).c_str());
  }
  if (job.inits.size() > 1)
    for (const ParameterSlot& s : model.parameters.slots())
      if (!loaded_by.count(s.name))
        std::printf("  left at initialization  %s %s\n", s.name.c_str(), shape_string(s.dims).c_str());
  print_frozen(model, job.inits.empty() ? "" : "  ");
  // Data-parallel under mpirun: every rank trains, rank 0 alone writes the metrics log and checkpoints.
  ProcessGroup& group = process_group();
  const bool writes = group.leader();
  if (group.size() > 1)
    std::printf("data-parallel over %d processes, each on its shard of every batch of %lld\n", group.size(),
                (long long)model.graph.train.batch);
  std::ofstream log;
  if (writes) {
    std::filesystem::path metrics_path(job.metrics);
    if (metrics_path.has_parent_path()) std::filesystem::create_directories(metrics_path.parent_path());
    log.open(job.metrics, job.resume.empty() ? std::ios::trunc : std::ios::app);
    if (!log) throw Error({job.metrics, 0, 0}, "cannot write the metrics log");
  }
  const bool live = isatty(STDERR_FILENO) && writes;
  TrainOptions train_options;
  train_options.data_dir = data_dir(job.common);
  train_options.limit = job.common.limit;
  train_options.group = &group;
  // Under mpirun the live line shows rank 0's running loss on its own shard; the epoch lines are global.
  train_options.on_progress = [&](const Progress& p) {
    if (!live) return;
    std::fprintf(stderr, "\r  epoch %lld/%lld  step %lld/%lld  loss %.5f  %.0f samples/s  ETA %.0fs   ",
                 (long long)p.epoch, (long long)p.epochs, (long long)p.step, (long long)p.steps_per_epoch,
                 p.loss, p.samples_per_second, p.eta_seconds);
  };
  // The selection state goes into every checkpoint, so that --resume keeps the best-so-far and patience.
  auto metadata = [&] {
    return selecting ? std::map<std::string, std::string>{{"selection", model.selection.to_json()}}
                     : std::map<std::string, std::string>{};
  };
  train_options.on_epoch = [&](const EpochReport& e) {
    if (live) std::fprintf(stderr, "\r%100s\r", "");
    std::printf("epoch %lld  train %s  %.2fs  %.0f samples/s", (long long)e.epoch,
                format_eval(e.train).c_str(), e.seconds, e.samples_per_second);
    if (model.graph.train.schedule.kind != "constant") std::printf("  lr %.4g", e.learning_rate);
    for (const NamedEval& n : e.evals)
      std::printf("  | %s %s", n.data.c_str(), format_eval(n.result).c_str());
    if (e.best) std::printf("  (best)");
    std::printf("\n");
    std::fflush(stdout);
    if (!writes) return;
    log << json_line(e, selecting) << std::flush;
    save_checkpoint(last, model, metadata());
    if (e.best) save_checkpoint(job.out, model, metadata());
  };
  if (job.profile) train_options.on_profile = print_profile;
  train_options.step_concurrency = job.step_concurrency;
  const int64_t first_epoch = model.epoch + 1;
  train(model, train_options);
  if (model.epoch < first_epoch && !model.selection.stopped)  // epochs already reached, or epochs = 0
    std::printf("nothing to train: %lld of %lld epochs done (raise --set epochs=N to train longer)\n",
                (long long)model.epoch, (long long)model.graph.train.epochs);
  if (model.epoch < first_epoch && writes) save_checkpoint(last, model, metadata());  // still write --out
  if (selecting) {
    print_selection(model);
    // No epoch scored (a NaN on every evaluation, or none ran): OUT still exists, holding the last epoch.
    if (model.selection.best_epoch == 0 && writes)
      std::filesystem::copy_file(last, job.out, std::filesystem::copy_options::overwrite_existing);
  }
  // The curves of the whole log (a resumed run's earlier epochs too). A chart that cannot be drawn costs
  // the run nothing: its checkpoint and log are written, and it says why.
  log.close();
  std::string curves = curves_png_path(job.metrics);
  try {
    const std::vector<Chart> charts = curve_charts(read_curves(job.metrics), stem(job.graph));
    if (charts.empty()) throw Error({job.metrics, 0, 0}, "no finite loss to draw");
    write_chart_png(charts.front(), curves);
  } catch (const Error& e) {
    std::fprintf(stderr, "warning: no loss curve drawn: %s", e.diagnostics().front().str().c_str());
    curves.clear();
  }
  std::printf("wrote %s%s, %s%s\n", job.out.c_str(),
              selecting ? (" (best), " + last + " (last)").c_str() : "", job.metrics.c_str(),
              curves.empty() ? "" : (" and " + curves).c_str());
}

int verb_train(const std::vector<std::string>& args) {
  TrainJob job;
  StartOptions start;
  std::string seed, precision;
  bool force = false;
  po::options_description options("train options");
  // clang-format off
  options.add_options()
      ("out", po::value(&job.out)->value_name("CKPT"),
       "checkpoint written atomically after every epoch (default out/<graph>.safetensors); it holds the "
       "optimizer state, so an interrupted run continues with --resume. With `select = best(DATA, METRIC)` "
       "in the train block it holds the best epoch, and CKPT.last the last one (the one to --resume)")
      ("metrics", po::value(&job.metrics)->value_name("FILE"),
       "per-epoch metrics, JSON lines (default out/<graph>.metrics.jsonl; appended to on --resume)")
      ("seed", po::value<uint64_t>()->value_name("N")->notifier([&](uint64_t s) { seed = "seed=" + std::to_string(s); }),
       "same as --set seed=N")
      ("precision", po::value<std::string>()->value_name("f32|bf16")->notifier([&](const std::string& p) { precision = "precision=" + p; }),
       "same as --set precision=P: bf16 runs training's dense GEMMs on bf16 copies of their operands with f32 "
       "accumulation, weights and optimizer (needs AVX512-BF16 or AMX); evaluation stays f32")
      ("resume", po::value(&start.resume)->value_name("CKPT"),
       "continue the run that wrote this checkpoint after its last epoch, bit-identically given the same "
       "--threads; the graph file (hash), seed, batch, optimizer and frozen parameters must match, so repeat "
       "its --set and --freeze flags; raise --set epochs=N to train longer")
      ("init", po::value(&start.init)->value_name("CKPT"),
       "start from another graph's checkpoint: each tensor initializes the parameter of the same name, or as "
       "--map says; the rest keep their seeded initialization")
      ("map", po::value(&start.maps)->value_name("SOURCE->TARGET")->composing(),
       "with --init: load tensors matching SOURCE into TARGET, e.g. 'enc1.*->fc1.*' (one '*' per side, or "
       "none; repeatable)")
      ("freeze", po::value(&start.freeze)->value_name("GLOB")->composing(),
       "do not train parameters matching this glob, like the graph's `freeze` (repeatable)")
      ("force", po::bool_switch(&force),
       "start a fresh run even when --out holds another run's checkpoint, which it then overwrites")
      ("step-concurrency", po::value(&job.step_concurrency)->value_name("N")->notifier([](int n) {
         if (n < 1) throw po::error("--step-concurrency must be at least 1");
       }),
       "run up to N independent steps of a training step at once (backward-data and backward-weights "
       "GEMMs, parameter updates), each on its own OpenMP team of --threads threads; the same bits as 1, the "
       "default (docs/threading.md)")
      ("profile", po::bool_switch(&job.profile),
       "after training, print the mean wall time per training step of each step of the plan (GEMMs, "
       "activations, terms, the optimizer) and of the work between steps; the first step is left out");
  // clang-format on
  add_common_options(options, job.common);
  if (!parse_verb("train", "GRAPH [options]", options, args, job.graph)) return 0;
  start.check();
  // After --set: storing --set's values replaces the vector.
  for (const std::string& setting : {seed, precision})
    if (!setting.empty()) job.common.settings.push_back(setting);
  if (job.out.empty()) job.out = "out/" + stem(job.graph) + ".safetensors";
  if (job.metrics.empty()) job.metrics = "out/" + stem(job.graph) + ".metrics.jsonl";
  if (!start.init.empty()) job.inits.push_back({start.init, start.maps, "", {}});
  job.resume = start.resume;
  job.force = force;
  job.freeze = start.freeze;
  run_train_job(job);
  return 0;
}

}  // namespace hg::tools
