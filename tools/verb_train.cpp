// `hourglass train GRAPH`: train with a live progress line, write per-epoch metrics as JSON lines and the
// final parameters as a safetensors checkpoint.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "common.h"
#include "runtime/checkpoint.h"

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
                "{\"epoch\": %lld, \"seconds\": %.4f, \"samples_per_second\": %.1f, \"train_loss\": %.8g",
                (long long)e.epoch, e.seconds, e.samples_per_second, e.train.loss);
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

int verb_train(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string out, metrics;
  po::options_description options("train options");
  options.add_options()("out", po::value(&out), "checkpoint to write (default out/<graph>.safetensors)")(
      "metrics", po::value(&metrics), "per-epoch metrics, JSON lines (default out/<graph>.metrics.jsonl)")(
      "seed", po::value<uint64_t>()->notifier([&](uint64_t s) {
        common.settings.push_back("seed=" + std::to_string(s));
      }),
      "same as --set seed=N");
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("train", "GRAPH [options]", options, args, path)) return 0;
  if (out.empty()) out = "out/" + stem(path) + ".safetensors";
  if (metrics.empty()) metrics = "out/" + stem(path) + ".metrics.jsonl";
  auto threads = configure_threads(common.threads);
  Model model(path, model_options(common));
  std::filesystem::path metrics_path(metrics);
  if (metrics_path.has_parent_path()) std::filesystem::create_directories(metrics_path.parent_path());
  std::ofstream log(metrics);
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
    if (e.test) std::printf("  | test %s", format_eval(*e.test).c_str());
    std::printf("\n");
    std::fflush(stdout);
    log << json_line(e) << std::flush;
  };
  train(model, train_options);
  save_checkpoint(out, model,
                  {{"epochs", std::to_string(model.graph.train.epochs)},
                   {"step", std::to_string(model.parameters.step)}});
  std::printf("wrote %s and %s\n", out.c_str(), metrics.c_str());
  return 0;
}

}  // namespace hg::tools
