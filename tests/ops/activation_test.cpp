// The activation family: each activation after a dense (fused into its GEMM) and on its own (unfused), the
// alpha of leaky_relu and elu, and which activations a plan fuses in training and in evaluation.
#include "gradient_check.h"

#define HG_ACTIVATION_CASES(name)                                                                       \
  HG_GRADIENT_CASE(name,                                                                                \
                   {"h = dense(x, 5) |> " name "\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)"}); \
  HG_GRADIENT_CASE(name, {"h = dense(x, 5)\na = " name                                                  \
                          "(h)\nr = dense(a, 6) |> sigmoid\nloss = loss.mse(r, x) + loss.mse(h, h)"})

HG_ACTIVATION_CASES("linear");
HG_ACTIVATION_CASES("relu");
HG_ACTIVATION_CASES("sigmoid");
HG_ACTIVATION_CASES("tanh");
HG_ACTIVATION_CASES("leaky_relu");
HG_ACTIVATION_CASES("elu");
HG_ACTIVATION_CASES("gelu");
HG_ACTIVATION_CASES("silu");
HG_ACTIVATION_CASES("softplus");
HG_GRADIENT_CASE("leaky_relu", {"h = dense(x, 5) |> leaky_relu(alpha=0.3)\nr = dense(h, 6) |> sigmoid\n"
                                "loss = loss.mse(r, x)"});
HG_GRADIENT_CASE("elu",
                 {"h = dense(x, 5) |> elu(alpha=0.5)\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE(
    "softmax", {"h = dense(x, 5) |> tanh\nlogits = dense(h, 4)\np = softmax(logits)\nloss = loss.mse(p, y)"});

namespace {

// Whether a plan of `mode` computes `activation` in the pass of the dense that produces its input.
bool fused(const char* activation, hg::PlanMode mode) {
  using namespace hg;
  test::TestModel m =
      test::model_from_text(std::string(test::kVectorHeader) + "h = dense(x, 5) |> " + activation +
                            "\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)\n");
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 4, mode);
  const NodeId h = m.graph.find("h");
  return plan.buffer(h) == plan.buffer(m.graph.node(h).inputs[0]);
}

}  // namespace

TEST_CASE("activations whose backward reads dst fuse in training; those reading src only in evaluation") {
  for (const char* a : {"relu", "leaky_relu(alpha=0.1)", "elu", "sigmoid", "tanh"}) {
    CAPTURE(a);
    CHECK(fused(a, hg::PlanMode::Train));
    CHECK(fused(a, hg::PlanMode::Eval));
  }
  for (const char* a : {"gelu", "silu", "softplus"}) {
    CAPTURE(a);
    CHECK_FALSE(fused(a, hg::PlanMode::Train));  // its backward needs the pre-activation values
    CHECK(fused(a, hg::PlanMode::Eval));
  }
}

TEST_CASE("leaky_relu and elu keep their alpha, which check shows") {
  using namespace hg;
  test::TestModel m = test::model_from_text(std::string(test::kVectorHeader) +
                                                "h = dense(x, 5) |> leaky_relu(alpha=0.2)\ne = elu(h)\n"
                                                "l = leaky_relu(e)\nloss = loss.mse(l, l)\n",
                                            false);
  const Node& h = m.graph.node(m.graph.find("h"));
  CHECK(h.op->describe(m.graph, h) == "leaky_relu(alpha=0.2)");
  const Node& e = m.graph.node(m.graph.find("e"));
  CHECK(e.op->describe(m.graph, e) == "elu(alpha=1)");
  const Node& l = m.graph.node(m.graph.find("l"));
  CHECK(l.op->describe(m.graph, l) == "leaky_relu(alpha=0.01)");
}
