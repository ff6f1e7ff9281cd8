// `hourglass train GRAPH`: train with a live progress line, write per-epoch metrics as JSON lines and, after
// every epoch, a safetensors checkpoint that --resume continues. --init/--map/--freeze start from another
// graph's weights (the pretraining -> fine-tuning step).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common.h"
#include "runtime/checkpoint.h"
#include "runtime/transfer.h"

namespace hg::tools {

static std::string json_terms(const EvalResult& r) {
  std::string out = "{";
  for (size_t i = 0; i < r.terms.size(); ++i) {
    char buffer[128];
    std::snprintf(buffer, sizeof buffer, "%s\"%s\": %.8g", i ? ", " : "", r.terms[i].first.c_str(),
                  r.terms[i].second);
    out += buffer;
  }
  return out + "}";
}

static std::string json_line(const EpochReport& e) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer,
                "{\"epoch\": %lld, \"seconds\": %.4f, \"samples_per_second\": %.1f, \"lr\": %.8g, "
                "\"train_loss\": %.8g",
                (long long)e.epoch, e.seconds, e.samples_per_second, e.learning_rate, e.train.loss);
  std::string out = buffer;
  out += ", \"train_terms\": " + json_terms(e.train);
  if (e.test) {
    std::snprintf(buffer, sizeof buffer, ", \"test_loss\": %.8g", e.test->loss);
    out += buffer + std::string(", \"test_terms\": ") + json_terms(*e.test);
    if (e.test->accuracy) {
      std::snprintf(buffer, sizeof buffer, ", \"test_accuracy\": %.6f", *e.test->accuracy);
      out += buffer;
    }
  }
  return out + "}\n";
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
  std::vector<MapRule> rules;
  void check() {
    if (!init.empty() && !resume.empty())
      throw po::error("--init and --resume exclude each other: --resume restores all parameters");
    if (!maps.empty() && init.empty()) throw po::error("--map needs --init CKPT to map names from");
    for (const std::string& text : maps) try {
        rules.push_back(parse_map_rule(text));
      } catch (const Error& e) {
        throw po::error(e.diagnostics()[0].where.str() + ": " + e.diagnostics()[0].message);
      }
  }
};

void print_profile(const StepProfile& p) {
  double total = p.between_steps;
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
  row(total, "total");
}

int verb_train(const std::vector<std::string>& args) {
  CommonOptions common;
  StartOptions start;
  std::string out, metrics, seed;
  bool profile = false, force = false;
  po::options_description options("train options");
  // clang-format off
  options.add_options()
      ("out", po::value(&out)->value_name("CKPT"),
       "checkpoint written atomically after every epoch (default out/<graph>.safetensors); it holds the "
       "optimizer state, so an interrupted run continues with --resume")
      ("metrics", po::value(&metrics)->value_name("FILE"),
       "per-epoch metrics, JSON lines (default out/<graph>.metrics.jsonl; appended to on --resume)")
      ("seed", po::value<uint64_t>()->value_name("N")->notifier([&](uint64_t s) { seed = "seed=" + std::to_string(s); }),
       "same as --set seed=N")
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
      ("profile", po::bool_switch(&profile),
       "after training, print the mean wall time per training step of each step of the plan (GEMMs, "
       "activations, terms, the optimizer) and of the work between steps; the first step is left out");
  // clang-format on
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("train", "GRAPH [options]", options, args, path)) return 0;
  start.check();
  if (!seed.empty())
    common.settings.push_back(seed);  // after --set: storing --set's values replaces the vector
  if (out.empty()) out = "out/" + stem(path) + ".safetensors";
  if (metrics.empty()) metrics = "out/" + stem(path) + ".metrics.jsonl";
  auto threads = configure_threads(common.threads);
  ModelOptions model_settings = model_options(common);
  model_settings.freeze = start.freeze;
  Model model(path, model_settings);
  if (!start.resume.empty()) {
    for (const std::string& note : resume_checkpoint(start.resume, model))
      std::printf("%s: note: %s\n", start.resume.c_str(), note.c_str());
    std::printf("resuming %s after epoch %lld (step %lld)\n", start.resume.c_str(), (long long)model.epoch,
                (long long)model.parameters.step);
  }
  if (start.resume.empty() && !force)  // before any work: an hour of training must not end in this error
    if (const std::string note = check_fresh_output(out, model); !note.empty())
      std::printf("%s: note: %s\n", out.c_str(), note.c_str());
  if (!start.init.empty()) print_transfer(start.init, initialize_from(start.init, model, start.rules), model);
  print_frozen(model, start.init.empty() ? "" : "  ");
  std::filesystem::path metrics_path(metrics);
  if (metrics_path.has_parent_path()) std::filesystem::create_directories(metrics_path.parent_path());
  std::ofstream log(metrics, start.resume.empty() ? std::ios::trunc : std::ios::app);
  if (!log) throw Error({metrics, 0, 0}, "cannot write the metrics log");
  const bool live = isatty(STDERR_FILENO);
  TrainOptions train_options;
  train_options.data_dir = data_dir(common);
  train_options.limit = common.limit;
  train_options.on_progress = [&](const Progress& p) {
    if (!live) return;
    std::fprintf(stderr, "\r  epoch %lld/%lld  step %lld/%lld  loss %.5f  %.0f samples/s  ETA %.0fs   ",
                 (long long)p.epoch, (long long)p.epochs, (long long)p.step, (long long)p.steps_per_epoch,
                 p.loss, p.samples_per_second, p.eta_seconds);
  };
  train_options.on_epoch = [&](const EpochReport& e) {
    if (live) std::fprintf(stderr, "\r%100s\r", "");
    std::printf("epoch %lld  train %s  %.2fs  %.0f samples/s", (long long)e.epoch,
                format_eval(e.train).c_str(), e.seconds, e.samples_per_second);
    if (model.graph.train.schedule.kind != "constant") std::printf("  lr %.4g", e.learning_rate);
    if (e.test) std::printf("  | test %s", format_eval(*e.test).c_str());
    std::printf("\n");
    std::fflush(stdout);
    log << json_line(e) << std::flush;
    save_checkpoint(out, model);
  };
  if (profile) train_options.on_profile = print_profile;
  const int64_t first_epoch = model.epoch + 1;
  train(model, train_options);
  if (model.epoch < first_epoch) {  // no epoch ran (epochs already reached, or epochs = 0): still write --out
    std::printf("nothing to train: %lld of %lld epochs done (raise --set epochs=N to train longer)\n",
                (long long)model.epoch, (long long)model.graph.train.epochs);
    save_checkpoint(out, model);
  }
  std::printf("wrote %s and %s\n", out.c_str(), metrics.c_str());
  return 0;
}

}  // namespace hg::tools
