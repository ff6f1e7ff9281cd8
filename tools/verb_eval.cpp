// `hourglass eval GRAPH --ckpt CKPT`: the loss terms, and the accuracy where the graph has labels.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "common.h"
#include "plan/plan.h"
#include "runtime/checkpoint.h"
#include "runtime/pipeline.h"

namespace hg::tools {

// `count` images of independent uniform random bytes, one per pixel, read with `like`'s scale (so pixels
// uniform over 0, 1/255, ..., 1 for data scaled by 1/255), shaped like `like`'s images, labels all 0.
static Dataset uniform_noise(const Dataset& like, int64_t count, uint64_t seed) {
  Dataset noise;
  noise.images_path = "uniform noise";
  noise.item_dims = like.item_dims;
  noise.count = count;
  noise.scale = like.scale;
  noise.memory = std::make_shared<MemoryCharge>(reserve_memory(
      double(count) * double(like.features()), {"--noise " + std::to_string(count), 0, 0},
      std::to_string(count) + " noise images of " + shape_string(like.item_dims) + " bytes need"));
  noise.pixels.resize(size_t(count * like.features()));
  std::mt19937_64 rng(seed);
  for (uint8_t& pixel : noise.pixels) pixel = uint8_t(rng() >> 56);  // the top 8 bits: uniform over 0..255
  if (!like.labels.empty()) {
    noise.labels.assign(size_t(count), 0);
    noise.num_classes = like.num_classes;
  }
  return noise;
}

// --per-sample FILE: each sample's weighted loss (the objective on a batch of one) and its label, in data
// order, as CSV `index,label,loss`: the reconstruction error an anomaly detector ranks samples by.
static void write_per_sample(Model& model, const Dataset& data, const std::string& path) {
  const Graph& g = model.graph;
  DataPipeline pipeline(g, data, 1, false, 0);
  Plan plan(g, model.parameters, model.plugins, 1, PlanMode::Eval);
  const std::vector<NodeId> terms = model.terms();
  const Node& objective = g.node(g.objective);
  std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(path.c_str(), "w"), &std::fclose);
  if (!out) throw Error({path, 0, 0}, "cannot write: " + std::string(std::strerror(errno)));
  std::fprintf(out.get(), "index,label,loss\n");
  pipeline.begin_epoch(0);
  for (int64_t i = 0; i < data.count; ++i) {
    pipeline.take(i, plan);
    plan.run_serial();
    double loss = 0;
    const std::vector<double>& weights = objective.attributes_as<ObjectiveAttributes>().weights;
    for (size_t t = 0; t < terms.size(); ++t) loss += weights[t] * plan.value(terms[t]);
    std::fprintf(out.get(), "%lld,%d,%.9g\n", (long long)i, data.labels.empty() ? 0 : data.labels[size_t(i)],
                 loss);
  }
  if (std::fflush(out.get()) != 0)
    throw Error({path, 0, 0}, "cannot write: " + std::string(std::strerror(errno)));
}

int verb_eval(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string checkpoint, data = "test";
  int64_t noise = 0;
  bool sample = false;
  std::string per_sample;
  po::options_description options("eval options");
  options.add_options()("ckpt", po::value(&checkpoint)->required(),
                        "checkpoint with the parameters (from train --out)")(
      "data", po::value(&data), "which data binding of the graph to evaluate on (default test)")(
      "noise", po::value(&noise),
      "evaluate on N images of uniform noise shaped like the data instead: a model "
      "that reconstructs noise well has learned (near) identity")(
      "sample", po::bool_switch(&sample),
      "sampling ops (sample.normal) draw z instead of returning their mean, as a VAE's test loss is often "
      "reported; the draws are fixed by the graph's seed")(
      "per-sample", po::value(&per_sample)->value_name("FILE"),
      "also write each sample's loss and label to FILE as CSV (index,label,loss), in data order");
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("eval", "GRAPH --ckpt CKPT [options]", options, args, path)) return 0;
  auto threads = configure_threads(common.threads);
  Model model(path, model_options(common));
  std::vector<std::string> notes;
  load_checkpoint(checkpoint, model, &notes);
  for (const std::string& note : notes) std::printf("%s: note: %s\n", checkpoint.c_str(), note.c_str());
  Dataset dataset = load_data(model.graph, data, data_dir(common), noise > 0 ? 1 : common.limit);
  if (noise < 0 || noise > 10000000) throw po::error("--noise must be between 1 and 10000000");
  if (noise > 0) dataset = uniform_noise(dataset, noise, model.graph.train.seed);
  const EvalResult result = evaluate(model, dataset, model.graph.train.batch, sample);
  std::printf("%s on %s (%lld samples%s): %s\n", path.c_str(), noise > 0 ? "uniform noise" : data.c_str(),
              (long long)result.samples, sample ? ", sampled" : "", format_eval(result).c_str());
  if (!per_sample.empty()) {
    write_per_sample(model, dataset, per_sample);
    std::printf("per-sample losses: %s\n", per_sample.c_str());
  }
  return 0;
}

}  // namespace hg::tools
