// Structure ops: concat, slice, flatten and upsample. Their shape table, the values they move (checked
// element by element against the definition), and their finite-difference gradient checks.
#include <vector>

#include "gradient_check.h"

using namespace hg;
using hg::test::kImageHeader;

HG_GRADIENT_CASE("concat", {"a = dense(x, 3) |> tanh\nb = dense(x, 2) |> sigmoid\nc = concat(a, b, a)\n"
                            "r = dense(c, 6) |> sigmoid\nloss = loss.bce(r, x)"});
// A skip connection over channels: the input image joins the encoder's feature maps.
HG_GRADIENT_CASE("concat", {"e = conv2d(x, 2, kernel=3, pad=1) |> tanh\nc = concat(e, x)\n"
                            "r = conv2d(c, 1, kernel=3, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
                            kImageHeader});
HG_GRADIENT_CASE("slice",
                 {"h = dense(x, 6) |> tanh\nmu = slice(h, 0, 4)\ns = slice(h, 4, 6)\n"
                  "r = dense(concat(s, mu), 6) |> sigmoid\nloss = loss.bce(r, x) + loss.mse(mu, y)"});
HG_GRADIENT_CASE("slice", {"e = conv2d(x, 3, kernel=3, pad=1) |> tanh\ns = slice(e, 1, 3)\n"
                           "r = conv2d(s, 1, kernel=3, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
                           kImageHeader});
HG_GRADIENT_CASE("flatten", {"e = conv2d(x, 2, kernel=3, stride=2, pad=1) |> tanh\nf = flatten(e)\n"
                             "logits = dense(f, 4)\nloss = loss.softmax_ce(logits, y)",
                             kImageHeader});
HG_GRADIENT_CASE("upsample", {"e = conv2d(x, 2, kernel=2, stride=2) |> tanh\nu = upsample(e)\n"
                              "r = conv2d(u, 1, kernel=3, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
                              kImageHeader});
HG_GRADIENT_CASE("upsample", {"e = conv2d(x, 2, kernel=3, stride=3) |> tanh\nu = upsample(e, factor=3)\n"
                              "r = conv2d(u, 1, kernel=1) |> sigmoid\nloss = loss.mse(r, x)",
                              kImageHeader});

namespace {

// Runs the evaluation plan of `body` on `input` (batch 2) and returns the output of node `out`.
std::vector<float> forward(const std::string& header, const std::string& body,
                           const std::vector<float>& input, const std::string& out) {
  test::TestModel m = test::model_from_text(header + body, false);
  const NodeId x = m.graph.find("x"), o = m.graph.find(out);
  REQUIRE(o != kNoNode);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 2, PlanMode::Eval, {o});
  float* in = plan.buffer(x);
  REQUIRE(int64_t(input.size()) == 2 * m.graph.node(x).elements_per_sample());
  std::copy(input.begin(), input.end(), in);
  plan.run_serial();
  const float* p = plan.buffer(o);
  return std::vector<float>(p, p + 2 * m.graph.node(o).elements_per_sample());
}

std::vector<float> iota(int n) {
  std::vector<float> v(size_t(n), 0);
  for (int i = 0; i < n; ++i) v[size_t(i)] = float(i + 1);
  return v;
}

}  // namespace

TEST_CASE("structure ops: shape table") {
  struct Row {
    const char* expr;
    std::vector<int64_t> dims;
  } rows[] = {
      {"concat(x, x)", {12}},
      {"concat(x, dense(x, 3), x)", {15}},
      {"concat(img, img)", {4, 2, 2}},
      {"slice(x, 0, 1)", {1}},
      {"slice(x, 2, 6)", {4}},
      {"slice(img, 1, 2)", {1, 2, 2}},
      {"flatten(img)", {8}},
      {"flatten(x)", {6}},
      {"upsample(img)", {2, 4, 4}},
      {"upsample(img, factor=3)", {2, 6, 6}},
      {"topk(x, 2)", {6}},
      {"topk(x, 6)", {6}},
  };
  for (const Row& row : rows) {
    CAPTURE(row.expr);
    const test::TestModel m = test::model_from_text(
        "input x : [6] <- image\ninput img : [2, 2, 2] <- image\ny = " + std::string(row.expr) +
            "\nloss = loss.mse(flatten(y), flatten(y))\n",
        false);
    const Node& y = m.graph.node(m.graph.find("y"));
    CHECK(y.dims == row.dims);
    CHECK(y.batched);
  }
}

TEST_CASE("concat and slice move each sample's blocks; slice undoes concat") {
  const std::string header = "input x : [3] <- image\n";
  const std::vector<float> in = iota(6);  // samples (1 2 3) and (4 5 6)
  CHECK(forward(header, "c = concat(x, slice(x, 1, 3))\nloss = loss.mse(c, c)", in, "c") ==
        std::vector<float>{1, 2, 3, 2, 3, 4, 5, 6, 5, 6});
  CHECK(forward(header, "c = slice(concat(x, x), 2, 5)\nloss = loss.mse(c, c)", in, "c") ==
        std::vector<float>{3, 1, 2, 6, 4, 5});
}

TEST_CASE("concat of [C, H, W] samples stacks channels, sample by sample") {
  const std::string header = "input x : [1, 1, 2] <- image\n";
  CHECK(forward(header, "c = concat(x, upsample(x, factor=1))\nloss = loss.mse(flatten(c), flatten(c))",
                iota(4), "c") == std::vector<float>{1, 2, 1, 2, 3, 4, 3, 4});
}

TEST_CASE("upsample repeats each pixel into a factor x factor block") {
  const std::string header = "input x : [1, 2, 2] <- image\n";
  const std::vector<float> out =
      forward(header, "u = upsample(x)\nloss = loss.mse(flatten(u), flatten(u))", iota(8), "u");
  const std::vector<float> first = {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4};
  CHECK(std::vector<float>(out.begin(), out.begin() + 16) == first);
  CHECK(out[16] == 5);
  CHECK(out[31] == 8);
}
