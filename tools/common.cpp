// Shared option handling for the runner's verbs.
#include "common.h"

#include <tbb/global_control.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <thread>

#include "kernels/threading.h"

namespace hg::tools {

namespace fs = std::filesystem;

void add_common_options(po::options_description& options, CommonOptions& common) {
  options.add_options()("plugin-dir", po::value(&common.plugin_dirs)->composing(),
                        "also load term plugins from this folder (repeatable)")(
      "set", po::value(&common.settings)->composing(),
      "override a setting: batch, epochs, seed, lr, momentum, test_every, precision, initializer, "
      "data.NAME.count, "
      "data.NAME.skip, "
      "data.NAME.subset.n/.subset.seed/.subset.balanced, data.NAME.split.valid/.split.seed/.split.stratify "
      "(KEY=VALUE, repeatable)")(
      "data-dir", po::value(&common.data_dir),
      "where data paths in the graph are resolved (default $HOURGLASS_DATA or ./data)")(
      "threads", po::value(&common.threads), "threads for all math and scheduling (default: all cores)")(
      "limit", po::value(&common.limit), "use only the first N samples of each dataset")(
      "max-memory", po::value(&common.max_memory)->value_name("SIZE")->notifier([](const std::string& text) {
        apply_max_memory(text);
      }),
      "refuse, before allocating, a graph or data whose parameters, activations and data sets together "
      "need more than SIZE (512M, 4G, 1.5G, or bytes; K/M/G/T are powers of 1024). Default "
      "$HOURGLASS_MAX_MEMORY, else each allocation must fit in the memory available (MemAvailable)");
}

void apply_max_memory(const std::string& text) {
  const std::optional<uint64_t> bytes = parse_memory_size(text);
  if (!bytes)
    throw po::error("--max-memory '" + text +
                    "' is not a memory size: give bytes, or a number with K, M, G or T (512M, 1.5G, 4G)");
  set_max_memory(*bytes, "--max-memory " + text);
}

// "--epochs 3" is a train-block setting given as an option: point at "--set epochs=3".
static std::string setting_hint(const std::string& option, const std::vector<std::string>& args) {
  static const char* const settings[] = {"batch", "epochs", "seed", "lr", "momentum", "test_every"};
  const size_t start = option.find_first_not_of('-');
  if (start == std::string::npos) return "";
  std::string name = option.substr(start);
  std::string value = "N";
  if (const size_t equals = name.find('='); equals != std::string::npos) {
    value = name.substr(equals + 1);
    name = name.substr(0, equals);
  } else {
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == option && i + 1 < args.size()) value = args[i + 1];
      if (args[i].rfind(option + "=", 0) == 0) value = args[i].substr(option.size() + 1);
    }
  }
  for (const char* setting : settings)
    if (name == setting) return " (train settings are given as --set " + name + "=" + value + ")";
  return "";
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
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  } catch (const po::unknown_option& e) {
    throw po::error(std::string(e.what()) + setting_hint(e.get_option_name(), args));
  }
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

void check_plugin_dirs(const std::vector<std::string>& dirs) {
  for (const std::string& dir : dirs) {
    std::error_code ec;
    const fs::file_status status = fs::status(dir, ec);
    if (!fs::exists(status)) throw po::error("--plugin-dir '" + dir + "': no such folder");
    if (!fs::is_directory(status))
      throw po::error("--plugin-dir '" + dir + "' is a file, not a folder (give the folder that holds the " +
                      "plugin: --plugin-dir '" +
                      (fs::path(dir).has_parent_path() ? fs::path(dir).parent_path().string() : ".") + "')");
  }
}

static void report_plugin_errors(const std::vector<Diagnostic>& errors) {
  std::fprintf(stderr,
               "warning: %zu plugin%s failed to load, so %s terms are missing (`hourglass plugins` "
               "lists them):\n",
               errors.size(), errors.size() == 1 ? "" : "s", errors.size() == 1 ? "its" : "their");
  for (const Diagnostic& d : errors) std::fprintf(stderr, "  %s", d.str().c_str());
}

ModelOptions model_options(const CommonOptions& common) {
  check_plugin_dirs(common.plugin_dirs);
  ModelOptions options{common.plugin_dirs, common.settings};
  options.on_plugin_errors = report_plugin_errors;
  options.limit = common.limit;  // recorded in checkpoints, so a resume without --limit is refused
  return options;
}

std::string data_dir(const CommonOptions& common) {
  return common.data_dir.empty() ? default_data_dir() : common.data_dir;
}

std::string stem(const std::string& path) {
  return std::filesystem::path(path).stem().string();
}

// The terms are printed unweighted, each with its weight where that is not 1, so that a reader sees how
// the loss is made: "loss 0.10500 = loss.bce 0.10120 + 0.001 x reg.l2 3.80000".
std::string format_eval(const EvalResult& r) {
  char buffer[96];
  std::snprintf(buffer, sizeof buffer, "loss %.5f", r.loss);
  std::string out = buffer;
  if (r.terms.size() > 1 || (r.terms.size() == 1 && r.terms[0].second != r.loss)) {
    out += " =";
    for (size_t i = 0; i < r.terms.size(); ++i) {
      const double w = i < r.weights.size() ? r.weights[i] : 1;
      const char* sign = w < 0 ? "-" : i ? "+" : "";
      std::string factor;
      if (std::fabs(w) != 1) {
        std::snprintf(buffer, sizeof buffer, "%g x ", std::fabs(w));
        factor = buffer;
      }
      out += std::string(" ") + sign + (*sign ? " " : "") + factor + r.terms[i].first;
      std::snprintf(buffer, sizeof buffer, " %.5f", r.terms[i].second);
      out += buffer;
    }
  }
  if (r.accuracy) {
    std::snprintf(buffer, sizeof buffer, "  accuracy %.2f%%", 100 * *r.accuracy);
    out += buffer;
  }
  return out;
}

}  // namespace hg::tools
