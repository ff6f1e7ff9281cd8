// `hourglass eval GRAPH --ckpt CKPT`: the loss terms, and the accuracy where the graph has labels.
#include <cstdio>
#include <random>

#include "common.h"
#include "runtime/checkpoint.h"

namespace hg::tools {

// `count` images of independent uniform random bytes, one per pixel, read with `like`'s scale (so pixels
// uniform over 0, 1/255, ..., 1 for data scaled by 1/255), shaped like `like`'s images, labels all 0.
static Dataset uniform_noise(const Dataset& like, int64_t count, uint64_t seed) {
  Dataset noise;
  noise.images_path = "uniform noise";
  noise.item_dims = like.item_dims;
  noise.count = count;
  noise.scale = like.scale;
  noise.pixels.resize(size_t(count * like.features()));
  std::mt19937_64 rng(seed);
  for (uint8_t& pixel : noise.pixels) pixel = uint8_t(rng() >> 56);  // the top 8 bits: uniform over 0..255
  if (!like.labels.empty()) {
    noise.labels.assign(size_t(count), 0);
    noise.num_classes = like.num_classes;
  }
  return noise;
}

int verb_eval(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string checkpoint, data = "test";
  int64_t noise = 0;
  bool sample = false;
  po::options_description options("eval options");
  options.add_options()("ckpt", po::value(&checkpoint)->required(),
                        "checkpoint with the parameters (from train --out)")(
      "data", po::value(&data), "which data binding of the graph to evaluate on (default test)")(
      "noise", po::value(&noise),
      "evaluate on N images of uniform noise shaped like the data instead: a model "
      "that reconstructs noise well has learned (near) identity")(
      "sample", po::bool_switch(&sample),
      "sampling ops (sample.normal) draw z instead of returning their mean, as a VAE's test loss is often "
      "reported; the draws are fixed by the graph's seed");
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
  return 0;
}

}  // namespace hg::tools
