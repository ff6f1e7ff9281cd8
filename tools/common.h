// Pieces every verb of the runner shares: the common options, thread set-up, and report formatting.
#pragma once

#include <boost/program_options.hpp>
#include <memory>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "runtime/summary.h"

namespace hg::tools {

namespace po = boost::program_options;

struct CommonOptions {
  std::vector<std::string> plugin_dirs, settings;
  std::string data_dir;
  int threads = 0;
  int64_t limit = 0;
  std::string max_memory;  // as given; parsing it sets the process's budget (apply_max_memory)
};

// Adds --plugin-dir, --set, --data-dir, --threads, --limit and --max-memory.
void add_common_options(po::options_description& options, CommonOptions& common);
// --max-memory SIZE: the memory budget for the rest of the process (support/memory_budget.h); a value that
// is not a size is a po::error naming the flag.
void apply_max_memory(const std::string& text);
// Parses `args` (after the verb) with one positional GRAPH; prints help and returns false for --help.
bool parse_verb(const std::string& verb, const std::string& usage, po::options_description& options,
                const std::vector<std::string>& args, std::string& graph);
// Applies --threads to oneDNN, the kernels and TBB, and, where it pays, starts generating oneDNN's GEMM
// kernels on a helper thread (warm_up_gemm_kernels); the returned object must live while work runs.
std::shared_ptr<void> configure_threads(int threads);
// Checks --plugin-dir (each must be an existing folder: a typo must not silently drop plugins) and warns on
// stderr about every plugin that fails to load.
ModelOptions model_options(const CommonOptions& common);
// A --plugin-dir that does not exist or names a file is a po::error.
void check_plugin_dirs(const std::vector<std::string>& dirs);
std::string data_dir(const CommonOptions& common);
std::string stem(const std::string& path);
std::string format_eval(const EvalResult& result);  // "loss 0.1012 (loss.bce 0.1012) accuracy 97.9%"

// One training run, as `train` takes it from its flags and `run` from a pipeline's train stage: the graph,
// where to start (seeded, from checkpoints, or resumed), what to freeze, the settings and where results go.
// Both verbs hand it to run_train_job, so that a pipeline never spells a stage out as command-line flags.
struct TrainJob {
  struct Init {
    std::string checkpoint;
    std::vector<std::string> maps;  // "source->target" rules; none: every tensor into its namesake
    std::string label;              // how messages name it ("stage dae1"); may be empty
    SourceLocation where;           // where the pipeline names it; line 0 for the command line
  };
  std::string graph, out, metrics;
  std::vector<Init> inits;  // loaded in order; a parameter loaded by two inits is an error
  std::string resume;       // a checkpoint to continue after its last epoch (excludes inits)
  std::vector<std::string> freeze;
  CommonOptions common;  // threads, --limit, data folder, plugin folders, settings (later ones win)
  bool profile = false;
  int step_concurrency = 1;  // --step-concurrency
  // Train over an --out that holds another run's checkpoint. Pipelines set it: a stage owns its output.
  bool force = false;
};
// Trains as the job says, printing progress and per-epoch reports; writes OUT after every epoch (with
// `select`: the best epoch in OUT and the last in OUT.last), the metrics log and, next to it, the curves.
void run_train_job(const TrainJob& job);
// With `select`, the checkpoint that --resume continues: OUT.last; else OUT itself.
std::string last_checkpoint(const std::string& out);

// The summary verb's pieces that the run verb's summary stage shares.
std::string read_text(const std::string& path);
EvalRecord read_eval_record(const std::string& path);                   // an eval stage's .eval.json
void write_summary(const Summary& summary, const std::string& prefix);  // PREFIX.md, .csv, .json

int verb_check(const std::vector<std::string>& args);
int verb_train(const std::vector<std::string>& args);
int verb_eval(const std::vector<std::string>& args);
int verb_encode(const std::vector<std::string>& args);
int verb_export(const std::vector<std::string>& args);
int verb_plugins(const std::vector<std::string>& args);
int verb_gradcheck(const std::vector<std::string>& args);
// `show`'s pictures of a trained model (what: filters, recon, samples or latent) as a PNG at `out`; returns
// what it drew ("10 test images, columns: input, 'recon'"). The report draws them too.
struct ShowOptions {
  CommonOptions common;
  std::string what, graph, checkpoint, out, name, tile;
  int64_t count = 100;
  int zoom = 2;
};
std::string draw_picture(Model& model, const ShowOptions& options);

int verb_show(const std::vector<std::string>& args);
int verb_report(const std::vector<std::string>& args);
int verb_run(const std::vector<std::string>& args);
int verb_summary(const std::vector<std::string>& args);

}  // namespace hg::tools
