// `hourglass export GRAPH --ckpt CKPT --out FILE.onnx [--node NAME] [--decoder-from NAME]`: the evaluation
// graph as an ONNX model (opset 17) for other runtimes (docs/deployment.md): corruptions are the identity,
// sample.normal gives its mean, batchnorm uses its running statistics. By default the model runs from the
// data inputs to the prediction of the graph's first loss; --node stops at a node (an encoder), and
// --decoder-from starts at one, which becomes the model's input (a decoder).
#include <cstdio>
#include <filesystem>

#include "common.h"
#include "export/onnx_export.h"
#include "ir/onnx.h"
#include "runtime/checkpoint.h"

namespace hg::tools {
namespace {

// A forward node by the name a user gives it in `flag`, with a hint for a typo.
NodeId named_node(const Graph& g, const std::string& name, const std::string& flag) {
  std::vector<std::string> names;
  for (const Node& n : g.nodes)
    if (n.forward == kNoNode && n.batched) names.push_back(n.name);
  const NodeId id = g.find(name);
  if (id == kNoNode)
    throw Error({flag + " '" + name + "'", 0, 0},
                g.file + " has no node '" + name + "'" + did_you_mean(name, names));
  return id;
}

// What the graph predicts: the first input of its first loss term ("recon" of loss.bce(recon, x)).
NodeId prediction(const Graph& g) {
  for (NodeId t : g.node(g.objective).inputs) {
    const Node& term = g.node(t);
    if (term.is(OpRole::Term) && term.attributes_as<TermAttributes>().kind == HG_TERM_LOSS)
      return term.inputs[0];
  }
  throw Error({g.file, 0, 0},
              "the graph's loss has no loss term whose prediction to export; name the output with --node");
}

std::string described(const Node& n) {
  return "'" + n.name + "' " + shape_string(n.dims, true);
}

}  // namespace

int verb_export(const std::vector<std::string>& args) {
  CommonOptions common;
  std::string checkpoint, out, node_name;
  std::vector<std::string> decoder_from;
  po::options_description options("export options (ONNX opset " + std::to_string(kOnnxOpset) +
                                  ", a dynamic batch dim N; docs/deployment.md)");
  // clang-format off
  options.add_options()
      ("ckpt", po::value(&checkpoint)->value_name("CKPT")->required(), "checkpoint with the parameters (from train --out)")
      ("out", po::value(&out)->value_name("FILE")->required(), "the ONNX model to write, e.g. model.onnx")
      ("node", po::value(&node_name)->value_name("NAME"),
       "the model's output, e.g. 'code' for the encoder (default: the prediction of the first loss term)")
      ("decoder-from", po::value(&decoder_from)->value_name("NAME"),
       "start at this node, which becomes the model's input, e.g. 'z' for a VAE's decoder (repeatable)");
  // clang-format on
  add_common_options(options, common);
  std::string path;
  if (!parse_verb("export", "GRAPH --ckpt CKPT --out FILE [--node NAME] [--decoder-from NAME] [options]",
                  options, args, path))
    return 0;
  if (std::filesystem::is_directory(out))
    throw po::error("--out '" + out + "' is a folder; give the file to write, e.g. " +
                    (std::filesystem::path(out) / "model.onnx").string());
  Model model(path, model_options(common));
  const Graph& g = model.graph;
  OnnxExportOptions what;
  what.output = node_name.empty() ? prediction(g) : named_node(g, node_name, "--node");
  for (const std::string& name : decoder_from) what.fed.push_back(named_node(g, name, "--decoder-from"));
  load_checkpoint(checkpoint, model);
  const OnnxExportSummary summary = export_onnx(g, model.parameters, what, out);
  std::string inputs;
  for (NodeId id : summary.inputs) inputs += (inputs.empty() ? "" : ", ") + described(g.node(id));
  std::printf("wrote %s: ONNX opset %lld, %s -> %s, %lld nodes, %lld initializers\n", out.c_str(),
              (long long)kOnnxOpset, inputs.c_str(), described(g.node(what.output)).c_str(),
              (long long)summary.nodes, (long long)summary.initializers);
  return 0;
}

}  // namespace hg::tools
