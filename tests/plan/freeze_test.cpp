// Frozen parameters get no gradient and never move; an lr_mult scales a parameter's SGD step.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "graph_fixture.h"
#include "plan/plan.h"

using namespace hg;

TEST_CASE("training leaves frozen parameters untouched and scales steps by lr_mult") {
  test::TestModel m = test::model_from_text(
      "input x : [8] <- image\nenc = dense(x, 6) |> sigmoid\nmid = dense(enc, 6) |> sigmoid\n"
      "r = dense(mid, 8) |> sigmoid\nloss = loss.bce(r, x)\nfreeze \"enc.*\"\nlr_mult \"mid.bias\" = 0.5\n"
      "train { optimizer = sgd(lr=0.5) batch = 4 }\n");
  for (auto [parameter, gradient] : m.graph.parameter_gradient)
    CHECK(m.graph.node(parameter).name.rfind("enc.", 0) != 0);  // no gradient is computed for enc.*
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 4, PlanMode::Train);
  test::fill_uniform(plan.buffer(m.graph.find("x")), 32, 9);
  const std::vector<float> before(m.parameters->values(), m.parameters->values() + m.parameters->total());
  plan.run_serial();
  for (const ParameterSlot& s : m.parameters->slots()) {
    const float* now = m.parameters->values() + s.offset;
    const bool moved = std::memcmp(now, before.data() + s.offset, sizeof(float) * size_t(s.count)) != 0;
    CAPTURE(s.name);
    CHECK(moved == (s.name.rfind("enc.", 0) != 0));
  }
  // One SGD step without momentum moves mid.bias by lr * 0.5 * gradient.
  const ParameterSlot* bias = m.parameters->slot("mid.bias");
  const float* gradient = m.parameters->gradients() + bias->offset;
  const float* now = m.parameters->values() + bias->offset;
  for (int64_t i = 0; i < bias->count; ++i)
    CHECK(now[i] == doctest::Approx(before[size_t(bias->offset + i)] - 0.25f * gradient[i]).epsilon(1e-5));
}
