// Pieces every verb of the runner shares: the common options, thread set-up, and report formatting.
#pragma once

#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace hg::tools {

namespace po = boost::program_options;

struct CommonOptions {
  std::vector<std::string> plugin_dirs, settings;
  std::string data_dir;
  int threads = 0;
  int64_t limit = 0;
};

// Adds --plugin-dir, --set, --data-dir, --threads and --limit.
void add_common_options(po::options_description& options, CommonOptions& common);
// Parses `args` (after the verb) with one positional GRAPH; prints help and returns false for --help.
bool parse_verb(const std::string& verb, const std::string& usage, po::options_description& options,
                const std::vector<std::string>& args, std::string& graph);
// Applies --threads to oneDNN, the kernels and TBB, and starts generating oneDNN's GEMM kernels on a helper
// thread (warm_up_gemm_kernels); the returned object must live while work runs.
std::shared_ptr<void> configure_threads(int threads);
// Checks --plugin-dir (each must be an existing folder: a typo must not silently drop plugins) and warns on
// stderr about every plugin that fails to load.
ModelOptions model_options(const CommonOptions& common);
// A --plugin-dir that does not exist or names a file is a po::error.
void check_plugin_dirs(const std::vector<std::string>& dirs);
std::string data_dir(const CommonOptions& common);
std::string stem(const std::string& path);
std::string format_eval(const EvalResult& result);  // "loss 0.1012 (loss.bce 0.1012) accuracy 97.9%"

int verb_check(const std::vector<std::string>& args);
int verb_train(const std::vector<std::string>& args);
int verb_eval(const std::vector<std::string>& args);
int verb_encode(const std::vector<std::string>& args);
int verb_plugins(const std::vector<std::string>& args);
int verb_show(const std::vector<std::string>& args);
int verb_run(const std::vector<std::string>& args);

}  // namespace hg::tools
