// The planner: one arena reused by liveness, edges that make any topological schedule safe, parameters and
// their gradients in the flat store, and evaluation plans that leave out backward work.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>

#include "graph_fixture.h"
#include "kernels/bf16.h"
#include "max_memory_guard.h"
#include "plan/plan.h"
#include "test_skip.h"

using namespace hg;

namespace {

int64_t sum_of_value_sizes(const Graph& g, int64_t batch) {
  int64_t total = 0;
  for (const Node& n : g.nodes)
    if (!n.is(OpRole::Parameter) && !n.is(OpRole::OptimizerStep))
      total += (n.batched ? batch : 1) * n.elements_per_sample();
  return total;
}
}  // namespace

TEST_CASE("the arena reuses memory of values that are no longer read") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  CHECK(plan.arena_floats() > 0);
  CHECK(plan.arena_floats() < sum_of_value_sizes(m.graph, 8) * 3 / 4);
}

TEST_CASE("parameters and their final gradients live in the parameter store") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  for (auto [parameter, gradient] : m.graph.parameter_gradient) {
    CHECK(plan.buffer(parameter) == m.parameters->value(parameter));
    CHECK(plan.buffer(gradient) == m.parameters->gradient(parameter));
  }
}

TEST_CASE("an evaluation plan has no backward or optimizer steps") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  Plan eval(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval);
  for (const PlanStep& step : eval.steps()) {
    CHECK(m.graph.node(step.node).forward == kNoNode);
    CHECK_FALSE(m.graph.node(step.node).is(OpRole::OptimizerStep));
  }
  Plan train(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  CHECK(train.steps().size() > eval.steps().size());
}

TEST_CASE("forward nodes nothing consumes are left out of a training plan") {
  test::TestModel m = test::model_from_text(
      "input x : [8] <- image\nh = dense(x, 4) |> sigmoid\nunused = softmax(h)\nr = dense(h, 8) |> sigmoid\n"
      "loss = loss.mse(r, x)\n");
  Plan train(m.graph, *m.parameters, test::builtin_plugins(), 2, PlanMode::Train);
  const NodeId unused = m.graph.find("unused");
  for (const PlanStep& step : train.steps()) CHECK(step.node != unused);
  CHECK(train.buffer(unused) == nullptr);
  Plan kept(m.graph, *m.parameters, test::builtin_plugins(), 2, PlanMode::Eval, {unused});
  CHECK(kept.buffer(unused) != nullptr);
}

TEST_CASE("every step's edges point backwards and include its data dependencies") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  const std::vector<PlanStep>& steps = plan.steps();
  std::map<NodeId, size_t> index;
  for (size_t s = 0; s < steps.size(); ++s)
    if (!m.graph.node(steps[s].node).is(OpRole::OptimizerStep)) index[steps[s].node] = s;
  auto follows = [&](const PlanStep& step, size_t before) {
    return std::find(step.after.begin(), step.after.end(), before) != step.after.end();
  };
  int updates = 0;
  for (size_t s = 0; s < steps.size(); ++s) {
    const PlanStep& step = steps[s];
    for (size_t before : step.after) CHECK(before < s);
    if (m.graph.node(step.node).is(OpRole::OptimizerStep)) continue;
    for (NodeId input : m.graph.node(step.node).inputs)
      if (index.count(input)) CHECK(follows(step, index[input]));
  }
  // Each trainable parameter has its own update, after its final gradient and every reader of its value;
  // the step that counts optimizer steps is last and follows every update.
  for (size_t s = 0; s < steps.size(); ++s) {
    const NodeId p = steps[s].updates;
    if (p == kNoNode) continue;
    ++updates;
    CHECK(follows(steps[s], index.at(m.graph.parameter_gradient.at(p))));
    for (size_t r = 0; r < steps.size(); ++r) {
      const std::vector<NodeId>& inputs = m.graph.node(steps[r].node).inputs;
      if (!m.graph.node(steps[r].node).is(OpRole::OptimizerStep) &&
          std::find(inputs.begin(), inputs.end(), p) != inputs.end())
        CHECK(follows(steps[s], r));
    }
    CHECK(follows(steps.back(), s));
  }
  CHECK(updates == int(m.graph.parameters.size()));
  CHECK(m.graph.node(steps.back().node).is(OpRole::OptimizerStep));
  CHECK(steps.back().updates == kNoNode);
}

// Runs a plan's steps in the order a scheduler would if it always picked the ready step added last: the
// reverse of the plan's order wherever the edges allow. Updates then run as early as their edges allow.
void run_latest_ready_first(Plan& plan) {
  const std::vector<PlanStep>& steps = plan.steps();
  std::vector<bool> done(steps.size(), false);
  for (size_t finished = 0; finished < steps.size(); ++finished)
    for (size_t s = steps.size(); s-- > 0;) {
      if (done[s]) continue;
      bool ready = true;
      for (size_t before : steps[s].after) ready = ready && done[before];
      if (!ready) continue;
      steps[s].run();
      done[s] = true;
      break;
    }
}

// In bf16 the updates also write the weights' bf16 copies, which the single pass leaves for the forward
// GEMMs to make afresh: the same bits either way.
void check_updates_match_one_pass(const std::string& precision) {
  for (const char* optimizer : {"sgd(lr=0.1, momentum=0.9)", "adam(lr=0.01)"}) {
    CAPTURE(optimizer);
    const std::string text = std::string(test::kStackedAutoencoder)
                                 .substr(0, std::string(test::kStackedAutoencoder).find("train {")) +
                             "train { optimizer = " + optimizer + " batch = 8 precision = " + precision +
                             " }\n";
    test::TestModel a = test::model_from_text(text), b = test::model_from_text(text),
                    c = test::model_from_text(text);
    Plan pa(a.graph, *a.parameters, test::builtin_plugins(), 8, PlanMode::Train);
    Plan pb(b.graph, *b.parameters, test::builtin_plugins(), 8, PlanMode::Train);
    Plan pc(c.graph, *c.parameters, test::builtin_plugins(), 8, PlanMode::Train);
    for (Plan* p : {&pa, &pb, &pc}) test::fill_uniform(p->buffer(a.graph.find("x")), 8 * 64, 5, 0.0f, 1.0f);
    for (int step = 0; step < 3; ++step) {
      pa.run_serial();
      run_latest_ready_first(pb);
      // The reference: every step but the updates, then the whole-store pass of before.
      for (const PlanStep& s : pc.steps())
        if (!c.graph.node(s.node).is(OpRole::OptimizerStep)) s.run();
      optimizer_step(c.graph.train.optimizer, *c.parameters);
    }
    CHECK(a.parameters->step == 3);
    CHECK(c.parameters->step == 3);
    const size_t bytes = sizeof(float) * size_t(a.parameters->total());
    CHECK(std::memcmp(a.parameters->values(), c.parameters->values(), bytes) == 0);
    CHECK(std::memcmp(b.parameters->values(), c.parameters->values(), bytes) == 0);
    for (int k = 0; k < a.parameters->states(); ++k)
      CHECK(std::memcmp(a.parameters->state(k), c.parameters->state(k), bytes) == 0);
  }
}

TEST_CASE("per-parameter updates give the bits of one optimizer pass after backward, in any valid order") {
  check_updates_match_one_pass("f32");
}

TEST_CASE("in bf16 too, with the weights' bf16 copies written by the updates") {
  if (const std::string missing = bf16_unavailable(); !missing.empty())
    return test::skip_test("no native bf16 kernels: " + missing);
  check_updates_match_one_pass("bf16");
}

TEST_CASE("training steps lower the loss on a fixed batch") {
  test::TestModel m = test::model_from_text(
      "input x : [64] <- image\nh = dense(x, 32) |> sigmoid\nr = dense(h, 64) |> sigmoid\n"
      "loss = loss.bce(r, x)\ntrain { optimizer = adam(lr=0.01) batch = 8 }\n");
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  float* x = plan.buffer(m.graph.find("x"));
  test::fill_uniform(x, 8 * 64, 5, 0.0f, 1.0f);
  for (int i = 0; i < 8 * 64; ++i) x[i] = x[i] > 0.5f ? 1.0f : 0.0f;  // binary pixels: BCE can approach 0
  plan.run_serial();
  const double first = plan.value(m.graph.objective);
  for (int i = 0; i < 200; ++i) plan.run_serial();
  CHECK(plan.value(m.graph.objective) < 0.5 * first);
}

TEST_CASE("a dense layer's activation runs in its GEMM's pass, unless the pre-activation output is kept") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder, false);
  const NodeId dense = m.graph.find("a.dense"), activation = m.graph.find("a");
  Plan fused(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval, {activation});
  Plan kept(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval, {dense, activation});
  for (Plan* plan : {&fused, &kept}) test::fill_uniform(plan->buffer(m.graph.find("x")), 8 * 64, 4);
  fused.run_serial();
  kept.run_serial();
  CHECK(fused.buffer(dense) == fused.buffer(activation));  // one buffer: the activation's output
  CHECK(kept.buffer(dense) != kept.buffer(activation));
  for (int64_t i = 0; i < 8 * 48; ++i) {
    const double pre_activation = kept.buffer(dense)[i];
    CHECK(kept.buffer(activation)[i] == doctest::Approx(1 / (1 + std::exp(-pre_activation))).epsilon(1e-5));
    CHECK(fused.buffer(activation)[i] == doctest::Approx(kept.buffer(activation)[i]).epsilon(1e-5));
  }
  CHECK(fused.value(m.graph.objective) == doctest::Approx(kept.value(m.graph.objective)).epsilon(1e-6));
}

TEST_CASE("a convolution's relu runs in its pass, bit for bit; a transposed convolution's stays apart") {
  test::TestModel m = test::model_from_text(
      "input x : [1, 12, 12] <- image\ne = conv2d(x, 16, kernel=3, stride=2, pad=1) |> relu\n"
      "d = deconv2d(e, 16, kernel=4, stride=2, pad=1) |> relu\nr = conv2d(d, 1, kernel=3, pad=1) |> sigmoid\n"
      "loss = loss.bce(r, x)\ntrain { batch = 8 }\n");
  const NodeId conv = m.graph.find("e.conv2d"), relu = m.graph.find("e");
  const NodeId deconv = m.graph.find("d.deconv2d"), deconv_relu = m.graph.find("d");
  Plan fused(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval, {relu, deconv_relu});
  Plan kept(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval, {conv, relu, deconv_relu});
  for (Plan* plan : {&fused, &kept}) test::fill_uniform(plan->buffer(m.graph.find("x")), 8 * 144, 4);
  fused.run_serial();
  kept.run_serial();
  CHECK(fused.buffer(conv) == fused.buffer(relu));
  CHECK(kept.buffer(conv) != kept.buffer(relu));
  CHECK(fused.buffer(deconv) != fused.buffer(deconv_relu));
  int negative = 0;
  for (int64_t i = 0; i < 8 * 16 * 6 * 6; ++i) {
    negative += kept.buffer(conv)[i] < 0;
    CHECK(kept.buffer(relu)[i] == std::max(kept.buffer(conv)[i], 0.0f));
    CHECK(fused.buffer(relu)[i] == kept.buffer(relu)[i]);
  }
  CHECK(negative > 0);
  CHECK(fused.value(m.graph.objective) == kept.value(m.graph.objective));
}

TEST_CASE("arena_size lays out the arena a plan allocates, without allocating or binding anything") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  for (PlanMode mode : {PlanMode::Train, PlanMode::Eval})
    for (int64_t batch : {1, 8, 100}) {
      const ArenaSize size = Plan::arena_size(m.graph, batch, mode);
      Plan plan(m.graph, *m.parameters, test::builtin_plugins(), batch, mode);
      CHECK(size.floats == plan.arena_floats());
      REQUIRE(size.largest != kNoNode);
      CHECK(size.largest_floats == batch * 64);  // x, r and their gradients are the widest values
    }
  CHECK(memory_held() == 0);  // a plan gives its arena's share of the budget back
}

TEST_CASE(
    "a plan's arena is reserved in the memory budget before it is allocated, refused at its largest value") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder);
  const int64_t floats = Plan::arena_size(m.graph, 1000, PlanMode::Train).floats;
  {
    test::MaxMemory budget("1M");  // the arena at batch 1000 needs more
    REQUIRE(floats * 4 > (1 << 20));
    try {
      Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 1000, PlanMode::Train);
      FAIL("a plan over the budget was built");
    } catch (const MemoryError& e) {
      CHECK(std::string(e.what()) ==
            "test.graph:1:7: error: the training plan's activations and gradients at batch 1000 need " +
                memory_size_text(double(floats) * 4) +
                ", more than the memory budget of 1.0 MiB (--max-memory 1M); the largest, 'x' [1000, 64], "
                "holds 64000 values; a smaller batch (--set batch=N) needs less");
    }
    CHECK(memory_held() == 0);
    Plan small(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Eval);
    CHECK(memory_held() == uint64_t(small.arena_floats()) * 4);
  }
  CHECK(memory_held() == 0);
}
