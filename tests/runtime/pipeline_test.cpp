// DataPipeline::take: a batch's images arrive in the plan's input buffer as floats, byte * scale, in the
// seeded shuffle's order; its labels one-hot beside them.
#include <doctest/doctest.h>

#include <vector>

#include "graph_fixture.h"
#include "plan/plan.h"
#include "runtime/pipeline.h"

using namespace hg;

TEST_CASE("a gathered batch holds each sample's bytes times the scale, in shuffled order, labels one-hot") {
  test::TestModel m = test::model_from_text(
      "input x : [6] <- image\ninput y : [4] <- label\nlogits = dense(x, 4)\nloss = loss.softmax_ce(logits, "
      "y)\n"
      "train { optimizer = sgd(lr=0.1) batch = 3 }\n",
      false);
  Dataset data;
  data.count = 7;
  data.item_dims = {2, 3};
  data.scale = 0.1f;  // not a power of two, so the product rounds
  for (int i = 0; i < 7 * 6; ++i) data.pixels.push_back(uint8_t(i * 37 + 5));
  data.labels = {0, 1, 2, 3, 0, 1, 2};
  data.num_classes = 4;

  DataPipeline pipeline(m.graph, data, 3, true, 9);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Eval);
  pipeline.begin_epoch(2);
  REQUIRE(pipeline.take(1, plan) == 3);
  const float* x = plan.buffer(m.graph.find("x"));
  const float* y = plan.buffer(m.graph.find("y"));
  REQUIRE(x != nullptr);
  REQUIRE(y != nullptr);
  std::vector<int64_t> samples;
  for (int64_t r = 0; r < 3; ++r) {
    const int64_t sample = pipeline.sample_index(3 + r);
    samples.push_back(sample);
    for (int64_t j = 0; j < 6; ++j) {
      const uint8_t byte = data.pixels[size_t(sample * 6 + j)];
      CHECK(x[r * 6 + j] == float(byte) * 0.1f);
    }
    for (int64_t c = 0; c < 4; ++c) CHECK(y[r * 4 + c] == (c == data.labels[size_t(sample)] ? 1.0f : 0.0f));
  }
  CHECK(samples != std::vector<int64_t>{3, 4, 5});  // the seeded shuffle moved this batch's samples
}
