// The ONNX mappings' bookkeeping: tests/onnx_export.sh runs tests/onnx_all_ops.graph through ONNX Runtime,
// so that graph must call every op a graph file can call (an op added without an export case fails here);
// and an op without a mapping reports itself at its node's place rather than exporting something wrong.
#include <doctest/doctest.h>

#include <algorithm>

#include "ir/builtin_plugins.h"
#include "ir/lower.h"
#include "ir/onnx.h"

using namespace hg;

TEST_CASE("tests/onnx_all_ops.graph calls every callable op, so the export test covers each mapping") {
  const Graph g = load_graph(HG_SOURCE_DIR "/tests/onnx_all_ops.graph", builtin_ops(), test::builtin_terms());
  int ops = 0;
  for (const Op* op : builtin_ops().ops()) {
    if (!op->callable()) continue;
    ++ops;
    CAPTURE(op->name());
    CHECK(std::any_of(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
  }
  CHECK(ops >= 36);
}

namespace {

// A context that records nothing: the default mapping must fail before using it.
class NoModel : public OnnxContext {
 public:
  explicit NoModel(const Graph& graph) : graph_(graph) {}
  const Graph& graph() const override { return graph_; }
  std::string value(NodeId) override { return ""; }
  std::string temporary(NodeId, const std::string&) override { return ""; }
  void add(NodeId, const std::string&, const std::vector<std::string>&, const std::vector<std::string>&,
           const std::vector<OnnxAttribute>&) override {
    FAIL("the default mapping added a node");
  }
  std::string constant(NodeId, const std::string&, const std::vector<int64_t>&,
                       const std::vector<float>&) override {
    return "";
  }
  std::string int64_constant(NodeId, const std::string&, const std::vector<int64_t>&,
                             const std::vector<int64_t>&) override {
    return "";
  }

 private:
  const Graph& graph_;
};

}  // namespace

TEST_CASE("an op without an ONNX mapping names itself and its node at the node's place") {
  const Graph g = load_graph(HG_SOURCE_DIR "/graphs/mnist_ae32.graph", builtin_ops(), test::builtin_terms());
  NoModel context(g);
  const NodeId term = g.find("loss.bce");
  REQUIRE(term != kNoNode);
  try {
    g.node(term).op->export_onnx(context, term);
    FAIL("the loss term exported");
  } catch (const Error& e) {
    REQUIRE(e.diagnostics().size() == 1);
    CHECK(e.diagnostics()[0].str() == HG_SOURCE_DIR
          "/graphs/mnist_ae32.graph:14:8: error: op 'term' of node 'loss.bce' cannot be exported to ONNX\n");
  }
}
