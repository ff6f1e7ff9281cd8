// `hourglass show filters|recon|samples|latent GRAPH --ckpt CKPT`: pictures of what a model learned.
// filters: the first layer's weights, one tile per hidden unit reshaped to the input image and normalized per
// tile. recon: test inputs next to their reconstructions, with the corrupted input between them for
// denoising graphs. samples: a generative model's decoder run on codes z ~ N(0, I). latent: the decoded
// manifold of a 2-D code, z on a grid of normal quantiles (Kingma and Welling 2014, figure 4).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>

#include "common.h"
#include "image_grid.h"
#include "plan/plan.h"
#include "runtime/checkpoint.h"
#include "runtime/pipeline.h"

namespace hg::tools {
namespace {

std::string show_filters(Model& model, const ShowOptions& o) {
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
  return std::to_string(units) + " filters of '" + slot->name + "' as " + std::to_string(height) + "x" +
         std::to_string(width) + " tiles";
}

std::string show_recon(Model& model, const ShowOptions& o) {
  const Graph& g = model.graph;
  const NodeId input = image_input(g);
  const NodeId output = o.name.empty() ? reconstruction(g) : g.find(o.name);
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
  return std::to_string(count) + " test images, columns: input" +
         (corrupted == kNoNode ? "" : ", '" + g.node(corrupted).name + "'") + ", '" + g.node(output).name +
         "'";
}

// The sample.normal node whose code the decoder reads, and the reconstruction it leads to.
struct Decoder {
  NodeId code = kNoNode, output = kNoNode;
};

Decoder find_decoder(const Graph& g, const ShowOptions& o) {
  Decoder d;
  for (NodeId id = 0; id < NodeId(g.nodes.size()) && d.code == kNoNode; ++id)
    if (g.node(id).forward == kNoNode && g.node(id).op->name() == std::string("sample.normal")) d.code = id;
  if (d.code == kNoNode)
    throw Error({g.file, 0, 0},
                "the graph has no sample.normal code to draw from; samples and latent show "
                "generative models such as graphs/gallery/vae.graph");
  const NodeId input = image_input(g);
  d.output = o.name.empty() ? reconstruction(g) : g.find(o.name);
  if (d.output == kNoNode || g.node(d.output).elements_per_sample() != g.node(input).elements_per_sample())
    throw Error({g.file, 0, 0}, "no node with the input's shape to decode into" +
                                    (o.name.empty() ? "" : ": '" + o.name + "'"));
  return d;
}

// Decodes `codes` (count x code size) through the graph from the code node, and draws one tile per code.
std::string draw_decoded(Model& model, const ShowOptions& o, const Decoder& d,
                         const std::vector<float>& codes, int64_t count, int64_t columns, const char* what) {
  const Graph& g = model.graph;
  const int64_t features = g.node(d.output).elements_per_sample();
  int64_t height = 0, width = 0;
  if (!parse_tile_shape(o.tile, features, &height, &width))
    throw po::error("--tile must be HxW with H*W = " + std::to_string(features));
  Plan plan(g, model.parameters, model.plugins, count, PlanMode::Eval, {d.output}, {d.code});
  std::copy(codes.begin(), codes.end(), plan.buffer(d.code));
  plan.run_serial();
  ImageGrid grid((count + columns - 1) / columns, columns, height, width, o.zoom);
  for (int64_t r = 0; r < count; ++r)
    grid.set_tile(r / columns, r % columns, plan.buffer(d.output) + r * features, false);
  grid.write_png(o.out);
  return std::to_string(count) + " " + what + " decoded by '" + g.node(d.output).name + "' from '" +
         g.node(d.code).name + "'";
}

std::string show_samples(Model& model, const ShowOptions& o) {
  const Decoder d = find_decoder(model.graph, o);
  const int64_t size = model.graph.node(d.code).elements_per_sample();
  std::vector<float> codes(size_t(o.count * size));
  std::mt19937_64 rng(model.graph.train.seed);
  std::normal_distribution<double> normal;
  for (float& z : codes) z = float(normal(rng));
  const int64_t columns = std::max<int64_t>(1, int64_t(std::ceil(std::sqrt(double(o.count)))));
  return draw_decoded(model, o, d, codes, o.count, columns, "samples z ~ N(0, I)");
}

// The standard normal's quantile function, by bisection on erfc: exact enough for picture coordinates.
double normal_quantile(double p) {
  double lo = -10, hi = 10;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

std::string show_latent(Model& model, const ShowOptions& o) {
  const Graph& g = model.graph;
  const Decoder d = find_decoder(g, o);
  const Node& code = g.node(d.code);
  if (code.elements_per_sample() != 2)
    throw Error(code.location, "show latent draws a 2-D code, but '" + code.name + "' is " +
                                   shape_string(code.dims, code.batched) +
                                   "; graphs/gallery/vae_2d.graph has one");
  const int64_t side = std::max<int64_t>(2, int64_t(std::lround(std::sqrt(double(o.count)))));
  std::vector<float> codes;
  for (int64_t row = 0; row < side; ++row)  // z2 from high to low, so the picture has z2 pointing up
    for (int64_t col = 0; col < side; ++col) {
      codes.push_back(float(normal_quantile((double(col) + 0.5) / double(side))));
      codes.push_back(float(normal_quantile(1 - (double(row) + 0.5) / double(side))));
    }
  return draw_decoded(model, o, d, codes, side * side, side, "grid points of the 2-D code");
}

}  // namespace

std::string draw_picture(Model& model, const ShowOptions& o) {
  if (o.what == "samples") return show_samples(model, o);
  if (o.what == "latent") return show_latent(model, o);
  return o.what == "filters" ? show_filters(model, o) : show_recon(model, o);
}

int verb_show(const std::vector<std::string>& args) {
  ShowOptions o;
  po::options_description options("show options");
  options.add_options()("ckpt", po::value(&o.checkpoint)->required(), "checkpoint with the parameters")(
      "out", po::value(&o.out), "PNG to write (default out/<graph>.<filters|recon>.png)")(
      "param", po::value(&o.name), "filters: the weights to draw (default: the first layer's)")(
      "node", po::value(&o.name),
      "recon, samples, latent: the node to show (default: the first loss's prediction)")(
      "tile", po::value(&o.tile), "tile shape HxW (default: square)")(
      "count", po::value(&o.count),
      "filters, test images or samples to draw (default 100; recon: 10; latent: a square grid of about "
      "this many points)")("zoom", po::value(&o.zoom), "pixels per weight or pixel (default 2)")(
      "help,h", "show this help");
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
    std::cout << "usage: hourglass show filters|recon|samples|latent GRAPH --ckpt CKPT [options]\n\n"
              << options << "\n";
    return 0;
  }
  po::notify(vm);
  const std::vector<std::string> pictures = {"filters", "recon", "samples", "latent"};
  if (std::find(pictures.begin(), pictures.end(), o.what) == pictures.end())
    throw po::error("show draws 'filters', 'recon', 'samples' or 'latent', not '" + o.what + "'" +
                    did_you_mean(o.what, pictures));
  if (o.graph.empty()) throw po::error("missing the GRAPH file; see 'hourglass show --help'");
  if (o.zoom < 1 || o.zoom > 16) throw po::error("--zoom must be between 1 and 16");
  if (o.what == "recon" && !vm.count("count")) o.count = 10;
  if (o.count < 1 || o.count > 10000) throw po::error("--count must be between 1 and 10000");
  if (o.out.empty()) o.out = "out/" + stem(o.graph) + "." + o.what + ".png";
  auto threads = configure_threads(o.common.threads);
  Model model(o.graph, model_options(o.common));
  load_checkpoint(o.checkpoint, model);
  std::printf("wrote %s: %s\n", o.out.c_str(), draw_picture(model, o).c_str());
  return 0;
}

}  // namespace hg::tools
