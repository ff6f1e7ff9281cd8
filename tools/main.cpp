// `hourglass <verb> ...`: the one runner. Only this file decides exit codes: 0 success, 1 a user error
// (bad graph, data, checkpoint or plugin), 2 a bad command line, 3 an internal error.
#include <cstdlib>
#include <iostream>

#include "common.h"
#include "hourglass_source.h"  // generated: HG_SOURCE_COMMIT, HG_SOURCE_DIRTY
#include "runtime/distributed.h"

namespace {

const char* kUsage =
    "usage: hourglass <verb> [options]\n\n"
    "verbs:\n"
    "  check GRAPH            parse, infer every shape, list nodes, parameters and plugin terms\n"
    "  train GRAPH            train on the graph's `train` data, report on every other set; --resume CKPT\n"
    "                         continues a run, --init CKPT starts from another graph's weights\n"
    "  eval GRAPH --ckpt F    loss terms (and accuracy where the graph has labels) on the `test` data\n"
    "  encode GRAPH --ckpt F --node N --out FILE   export a node's activations as CSV, .npy or LibSVM\n"
    "  export GRAPH --ckpt F --out FILE.onnx   the evaluation graph as an ONNX model (opset 17); --node N\n"
    "                         ends it at a node (an encoder), --decoder-from N starts it at one (a decoder)\n"
    "  plugins                list the terms the plugin folders provide, with parameters and versions\n"
    "  gradcheck TERM         check a plugin term's gradient against finite differences of its value\n"
    "  show filters|recon GRAPH --ckpt F   write PNG grids of first-layer filters or reconstructions\n"
    "  run PIPELINE           run a pipeline's train, eval and encode stages in order, skipping those whose\n"
    "                         outputs are up to date (graphs/pipelines/*.pipeline); --param, --sweep\n"
    "  summary DIR            one table of every evaluation under DIR: mean ± std over seeds, paired "
    "gains\n"
    "  report CKPT|DIR        one HTML page of a run or a pipeline's output: curves, tables, pictures\n\n"
    "'hourglass <verb> --help' describes a verb's options; 'hourglass --version' the build's commit.\n";

// Runs the verb and turns its errors into exit codes. In an MPI job of several processes, only `train` and
// `run` take part (each rank trains its shard; a pipeline's other stages run on rank 0); the other verbs
// would only repeat one process's work N times over the same files.
int run_verb(const std::string& verb, const std::vector<std::string>& args) {
  using namespace hg::tools;
  const hg::ProcessGroup& group = hg::process_group();
  // Every rank reports its own errors; with several ranks, other ranks' messages say whose they are.
  const std::string who = group.leader() ? "" : "[rank " + std::to_string(group.rank()) + "] ";
  try {
    if (group.size() > 1 && verb != "train" && verb != "run")
      throw hg::Error({"mpirun", 0, 0}, "hourglass " + verb +
                                            " runs in one process; under mpirun only train "
                                            "and run work data-parallel, so run it without mpirun");
    if (verb == "check") return verb_check(args);
    if (verb == "train") return verb_train(args);
    if (verb == "eval") return verb_eval(args);
    if (verb == "encode") return verb_encode(args);
    if (verb == "export") return verb_export(args);
    if (verb == "plugins") return verb_plugins(args);
    if (verb == "gradcheck") return verb_gradcheck(args);
    if (verb == "show") return verb_show(args);
    if (verb == "run") return verb_run(args);
    if (verb == "summary") return verb_summary(args);
    if (verb == "report") return verb_report(args);
    std::cerr << "hourglass: unknown verb '" << verb << "'"
              << hg::did_you_mean(verb, {"check", "train", "eval", "encode", "export", "plugins", "gradcheck",
                                         "show", "run", "summary", "report"})
              << "\n\n"
              << kUsage;
    return 2;
  } catch (const hg::Error& e) {
    for (const hg::Diagnostic& d : e.diagnostics()) std::cerr << who << d.str();
    return 1;
  } catch (const boost::program_options::error& e) {
    std::cerr << who << "hourglass " << verb << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << who << "hourglass " << verb << ": internal error: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--version") {
    std::cout << "hourglass " HG_VERSION " (commit " HG_SOURCE_COMMIT
              << (HG_SOURCE_DIRTY ? ", with uncommitted changes" : "") << ")\n";
    return 0;
  }
  try {
    hg::init_process_group();
  } catch (const hg::Error& e) {
    for (const hg::Diagnostic& d : e.diagnostics()) std::cerr << d.str();
    return 1;
  }
  // Rank 0 alone prints progress and reports; the others' errors still reach stderr.
  if (!hg::process_group().leader() && !std::freopen("/dev/null", "w", stdout)) return 3;
  const int code = run_verb(argv[1], std::vector<std::string>(argv + 2, argv + argc));
  // A rank that fails ends the whole job at once, rather than leaving the others to time out waiting for it.
  if (code != 0 && hg::process_group().size() > 1) hg::abort_process_group(code);
  hg::finish_process_group();
  return code;
}
