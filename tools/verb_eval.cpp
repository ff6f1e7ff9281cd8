// `hourglass eval GRAPH --ckpt CKPT`: the loss terms, and the accuracy where the graph has labels.
#include <cstdio>

#include "common.h"
#include "runtime/checkpoint.h"

namespace hg::tools {

int verb_eval(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string checkpoint, data = "test";
  po::options_description options("eval options");
  options.add_options()
      ("ckpt", po::value(&checkpoint)->required(), "checkpoint with the parameters (from train --out)")
      ("data", po::value(&data), "which data binding of the graph to evaluate on (default test)");
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("eval", "GRAPH --ckpt CKPT [options]", options, args, path)) return 0;
  auto threads = configure_threads(common.threads);
  Model model(path, model_options(common));
  load_checkpoint(checkpoint, model);
  const Dataset dataset = load_data(model.graph, data, data_dir(common), common.limit);
  const EvalResult result = evaluate(model, dataset, model.graph.train.batch);
  std::printf("%s on %s (%lld samples): %s\n", path.c_str(), data.c_str(), (long long)result.samples,
              format_eval(result).c_str());
  return 0;
}

}  // namespace hg::tools
