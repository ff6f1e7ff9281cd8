// `hourglass show filters|recon GRAPH --ckpt CKPT`: pictures of what a model learned. filters: the first
// layer's weights, one tile per hidden unit reshaped to the input image and normalized per tile. recon: test
// inputs next to their reconstructions, with the corrupted input between them for denoising graphs.
#include <cstdio>
#include <iostream>

#include "common.h"
#include "image_grid.h"
#include "plan/plan.h"
#include "runtime/checkpoint.h"
#include "runtime/pipeline.h"

namespace hg::tools {
namespace {

struct ShowOptions {
  CommonOptions common;
  std::string what, graph, checkpoint, out, name, tile;
  int64_t count = 100;
  int zoom = 2;
};

NodeId image_input(const Graph& g) {
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id)
    if (g.node(id).is(OpRole::Input) && g.node(id).attributes_as<InputAttributes>().source == "image")
      return id;
  throw Error({g.file, 0, 0}, "the graph has no image input to draw");
}

int show_filters(Model& model, const ShowOptions& o) {
  const Graph& g = model.graph;
  const int64_t features = g.node(image_input(g)).elements_per_sample();
  const ParameterSlot* slot = nullptr;
  if (!o.name.empty()) {
    slot = model.parameters.slot(o.name);
    std::vector<std::string> names;
    for (const ParameterSlot& s : model.parameters.slots()) names.push_back(s.name);
    if (!slot) throw Error({g.file, 0, 0}, "no parameter '" + o.name + "'" + did_you_mean(o.name, names));
  } else {
    for (const ParameterSlot& s : model.parameters.slots())  // dense weights on the pixels, or the first conv
      if (!slot && ((s.dims.size() == 2 && s.dims[1] == features) || s.dims.size() == 4)) slot = &s;
    if (!slot)
      throw Error({g.file, 0, 0}, "no weights read the image input directly; name them with --param");
  }
  // A dense layer's (units, pixels) rows, or a convolution's (OC, C, K, K) kernels, each one tile.
  const bool conv = slot->dims.size() == 4;
  if (slot->dims.size() != 2 && !conv)
    throw Error({g.file, 0, 0},
                "'" + slot->name + "' is " + shape_string(slot->dims) + ", not dense or conv weights");
  const int64_t tile_size = conv ? slot->dims[2] * slot->dims[3] : slot->dims[1];
  const int64_t tiles = conv ? slot->dims[0] * slot->dims[1] : slot->dims[0];
  int64_t height = conv ? slot->dims[2] : 0, width = conv ? slot->dims[3] : 0;
  if (!conv && !parse_tile_shape(o.tile, tile_size, &height, &width))
    throw po::error("--tile must be HxW with H*W = " + std::to_string(tile_size));
  const int64_t units = std::min(tiles, o.count),
                cols = std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(units)))));
  ImageGrid grid((units + cols - 1) / cols, cols, height, width, conv ? std::max(o.zoom, 8) : o.zoom);
  const float* weights = model.parameters.values() + slot->offset;
  for (int64_t u = 0; u < units; ++u) grid.set_tile(u / cols, u % cols, weights + u * tile_size, true);
  grid.write_png(o.out);
  std::printf("wrote %s: %lld filters of '%s' as %lldx%lld tiles\n", o.out.c_str(), (long long)units,
              slot->name.c_str(), (long long)height, (long long)width);
  return 0;
}

int show_recon(Model& model, const ShowOptions& o) {
  const Graph& g = model.graph;
  const NodeId input = image_input(g);
  NodeId output = o.name.empty() ? kNoNode : g.find(o.name);
  if (o.name.empty())  // the prediction of the first loss that reconstructs the image input
    for (NodeId t : g.node(g.objective).inputs)
      if (output == kNoNode && g.node(t).inputs.size() == 2 && g.node(t).inputs[1] == input)
        output = g.node(t).inputs[0];
  if (output == kNoNode || g.node(output).elements_per_sample() != g.node(input).elements_per_sample())
    throw Error({g.file, 0, 0},
                "no node with the input's shape to show" + (o.name.empty() ? "" : ": '" + o.name + "'"));
  NodeId corrupted = kNoNode;
  for (NodeId id = 0; id < NodeId(g.nodes.size()); ++id)
    if (g.node(id).is(OpRole::Corrupt) && g.node(id).inputs[0] == input) corrupted = id;
  const Dataset data = load_data(g, "test", data_dir(o.common), o.count);
  const int64_t count = data.count, features = g.node(input).elements_per_sample();
  int64_t height = 0, width = 0;
  if (!parse_tile_shape(o.tile, features, &height, &width))
    throw po::error("--tile must be HxW with H*W = " + std::to_string(features));
  const int64_t columns = corrupted == kNoNode ? 2 : 3;
  ImageGrid grid(count, columns, height, width, o.zoom);
  DataPipeline pipeline(g, data, count, false, 0);
  Plan plan(g, model.parameters, model.plugins, count, PlanMode::Eval, {input, output});
  pipeline.begin_epoch(0);
  pipeline.take(0, plan);
  plan.run_serial();
  for (int64_t r = 0; r < count; ++r) {
    grid.set_tile(r, 0, plan.buffer(input) + r * features, false);
    grid.set_tile(r, columns - 1, plan.buffer(output) + r * features, false);
  }
  if (corrupted != kNoNode) {
    Plan noisy(g, model.parameters, model.plugins, count, PlanMode::Corrupted, {corrupted});
    pipeline.take(0, noisy);
    noisy.set_step_seed(g.train.seed);
    noisy.run_serial();
    for (int64_t r = 0; r < count; ++r) grid.set_tile(r, 1, noisy.buffer(corrupted) + r * features, false);
  }
  grid.write_png(o.out);
  std::printf("wrote %s: %lld test images, columns: input%s, '%s'\n", o.out.c_str(), (long long)count,
              corrupted == kNoNode ? "" : (", '" + g.node(corrupted).name + "'").c_str(),
              g.node(output).name.c_str());
  return 0;
}

}  // namespace

int verb_show(const std::vector<std::string>& args) {
  ShowOptions o;
  po::options_description options("show options");
  options.add_options()("ckpt", po::value(&o.checkpoint)->required(), "checkpoint with the parameters")(
      "out", po::value(&o.out), "PNG to write (default out/<graph>.<filters|recon>.png)")(
      "param", po::value(&o.name), "filters: the weights to draw (default: the first layer's)")(
      "node", po::value(&o.name), "recon: the node to show (default: the first loss's prediction)")(
      "tile", po::value(&o.tile), "tile shape HxW (default: square)")(
      "count", po::value(&o.count), "filters or test images to draw (default 100; recon: 10)")(
      "zoom", po::value(&o.zoom), "pixels per weight or pixel (default 2)")("help,h", "show this help");
  add_common_options(options, o.common);
  po::options_description hidden;
  hidden.add_options()("what", po::value(&o.what))("graph", po::value(&o.graph));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("what", 1).add("graph", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout << "usage: hourglass show filters|recon GRAPH --ckpt CKPT [options]\n\n" << options << "\n";
    return 0;
  }
  po::notify(vm);
  if (o.what != "filters" && o.what != "recon")
    throw po::error("show draws 'filters' or 'recon', not '" + o.what + "'" +
                    did_you_mean(o.what, {"filters", "recon"}));
  if (o.graph.empty()) throw po::error("missing the GRAPH file; see 'hourglass show --help'");
  if (o.zoom < 1 || o.zoom > 16) throw po::error("--zoom must be between 1 and 16");
  if (o.what == "recon" && !vm.count("count")) o.count = 10;
  if (o.count < 1 || o.count > 10000) throw po::error("--count must be between 1 and 10000");
  if (o.out.empty()) o.out = "out/" + stem(o.graph) + "." + o.what + ".png";
  auto threads = configure_threads(o.common.threads);
  Model model(o.graph, model_options(o.common));
  load_checkpoint(o.checkpoint, model);
  return o.what == "filters" ? show_filters(model, o) : show_recon(model, o);
}

}  // namespace hg::tools
