// Shared option handling for the runner's verbs.
#include "common.h"

#include <tbb/global_control.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "kernels/threading.h"

namespace hg::tools {

void add_common_options(po::options_description& options, CommonOptions& common) {
  options.add_options()("plugin-dir", po::value(&common.plugin_dirs)->composing(),
                        "also load term plugins from this folder (repeatable)")(
      "set", po::value(&common.settings)->composing(),
      "override a setting: batch, epochs, seed, lr, momentum, test_every, data.NAME.count, data.NAME.skip, "
      "data.NAME.subset.n/.subset.seed/.subset.balanced, data.NAME.split.valid/.split.seed/.split.stratify "
      "(KEY=VALUE, repeatable)")(
      "data-dir", po::value(&common.data_dir),
      "where data paths in the graph are resolved (default $HOURGLASS_DATA or ./data)")(
      "threads", po::value(&common.threads), "threads for all math and scheduling (default: all cores)")(
      "limit", po::value(&common.limit), "use only the first N samples of each dataset");
}

bool parse_verb(const std::string& verb, const std::string& usage, po::options_description& options,
                const std::vector<std::string>& args, std::string& graph) {
  options.add_options()("help,h", "show this help");
  po::options_description hidden;
  hidden.add_options()("graph", po::value(&graph));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("graph", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: hourglass " << verb << " " << usage << "\n\n" << options << "\n";
    return false;
  }
  po::notify(vm);
  if (graph.empty()) throw po::error("missing the GRAPH file; see 'hourglass " + verb + " --help'");
  return true;
}

std::shared_ptr<void> configure_threads(int threads) {
  if (threads < 0 || threads > 1024) throw po::error("--threads must be between 1 and 1024");
  if (threads == 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  set_math_threads(threads);
  struct Settings {
    explicit Settings(size_t threads) : tbb(tbb::global_control::max_allowed_parallelism, threads) {}
    tbb::global_control tbb;
    std::shared_ptr<void> warm_up = warm_up_gemm_kernels();
  };
  return std::make_shared<Settings>(size_t(threads));
}

ModelOptions model_options(const CommonOptions& common) {
  ModelOptions options{common.plugin_dirs, common.settings};
  options.limit = common.limit;  // recorded in checkpoints, so a resume without --limit is refused
  return options;
}

std::string data_dir(const CommonOptions& common) {
  return common.data_dir.empty() ? default_data_dir() : common.data_dir;
}

std::string stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

std::string format_eval(const EvalResult& r) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "loss %.5f", r.loss);
  std::string out = buffer;
  if (r.terms.size() > 1 || (r.terms.size() == 1 && r.terms[0].second != r.loss)) {
    out += " (";
    for (size_t i = 0; i < r.terms.size(); ++i) {
      std::snprintf(buffer, sizeof buffer, "%s%s %.5f", i ? ", " : "", r.terms[i].first.c_str(),
                    r.terms[i].second);
      out += buffer;
    }
    out += ")";
  }
  if (r.accuracy) {
    std::snprintf(buffer, sizeof buffer, "  accuracy %.2f%%", 100 * *r.accuracy);
    out += buffer;
  }
  return out;
}

}  // namespace hg::tools
