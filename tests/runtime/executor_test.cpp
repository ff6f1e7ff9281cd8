// The executor runs a plan's steps on a TBB flow graph; whatever order it picks within the plan's edges must
// compute exactly what the plan's serial order computes.
#include <doctest/doctest.h>

#include <cstring>

#include "graph_fixture.h"
#include "plan/plan.h"
#include "runtime/executor.h"

using namespace hg;

TEST_CASE("the TBB flow graph computes exactly what the serial order computes") {
  test::TestModel serial_model = test::model_from_text(test::kStackedAutoencoder, true, 3);
  test::TestModel graph_model = test::model_from_text(test::kStackedAutoencoder, true, 3);
  Plan serial(serial_model.graph, *serial_model.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  Plan flow(graph_model.graph, *graph_model.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  Executor executor(flow);
  for (int step = 0; step < 5; ++step) {
    test::fill_uniform(serial.buffer(serial_model.graph.find("x")), 8 * 64, 100 + step);
    test::fill_uniform(flow.buffer(graph_model.graph.find("x")), 8 * 64, 100 + step);
    serial.run_serial();
    executor.run();
    CHECK(serial.value(serial_model.graph.objective) == flow.value(graph_model.graph.objective));
  }
  CHECK(std::memcmp(serial_model.parameters->values(), graph_model.parameters->values(),
                    sizeof(float) * size_t(serial_model.parameters->total())) == 0);
}

TEST_CASE("a timed executor clocks every step of every run but the first, in the plan's order") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder, true, 3);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 8, PlanMode::Train);
  Executor untimed(plan);
  untimed.run();
  CHECK(untimed.timings().empty());
  Executor timed(plan, true);
  for (int step = 0; step < 4; ++step) timed.run();
  const std::vector<StepTime> times = timed.timings();
  REQUIRE(times.size() == plan.steps().size());
  double total = 0;
  for (size_t s = 0; s < times.size(); ++s) {
    CHECK(times[s].node == plan.steps()[s].node);
    CHECK(times[s].runs == 3);
    CHECK(times[s].seconds >= 0);
    total += times[s].seconds;
  }
  CHECK(total > 0);
}

// Graphs with independent steps (two heads, tied weights, a plugin term on a parameter, a corruption,
// normalization), trained by flow graphs of several concurrent steps: every run of every order the edges
// allow must give the serial order's bits. This exercises the arena-reuse and write-after-read edges that
// a concurrency-1 executor never tests.
TEST_CASE("concurrent steps compute exactly what the serial order computes") {
  const char* const graphs[] = {
      test::kStackedAutoencoder,
      "input x : [64] <- image\nh = dense(x, 48) |> relu\nmu = dense(h, 8)\nlogvar = dense(h, 8)\n"
      "z = sample.normal(mu, logvar)\nd = dense(z, 48) |> relu\nr = dense(d, 64) |> sigmoid\n"
      "loss = loss.bce(r, x, sum=1) + reg.kl_normal(mu, logvar)\ntrain { optimizer = adam(lr=0.01) batch = 8 "
      "}\n",
      "input x : [64] <- image\nn = corrupt.gaussian(x, sigma=0.3)\nh = dense(n, 32) |> sigmoid\n"
      "r = dense(h, 64, tied=h) |> sigmoid\nloss = loss.mse(r, x) + 0.01 * reg.l2(h.weights)\n"
      "train { optimizer = sgd(lr=0.1, momentum=0.9) batch = 8 }\n",
      "input x : [1, 8, 8] <- image\nc = conv2d(x, 4, kernel=3, pad=1)\nb = batchnorm(c) |> relu\n"
      "f = flatten(b)\nskip = flatten(x)\nr = dense(f, 64) + skip |> sigmoid\nloss = loss.mse(r, skip)\n"
      "train { optimizer = adam(lr=0.01) batch = 8 }\n"};
  for (const char* text : graphs) {
    CAPTURE(text);
    test::TestModel serial_model = test::model_from_text(text, true, 3);
    test::TestModel flow_model = test::model_from_text(text, true, 3);
    Plan serial(serial_model.graph, *serial_model.parameters, test::builtin_plugins(), 8, PlanMode::Train);
    Plan flow(flow_model.graph, *flow_model.parameters, test::builtin_plugins(), 8, PlanMode::Train);
    Executor executor(flow, false, nullptr, 2);
    const int64_t inputs = 8 * serial_model.graph.node(serial_model.graph.find("x")).elements_per_sample();
    for (int step = 0; step < 20; ++step) {
      test::fill_uniform(serial.buffer(serial_model.graph.find("x")), inputs, 200 + step, 0.0f, 1.0f);
      test::fill_uniform(flow.buffer(flow_model.graph.find("x")), inputs, 200 + step, 0.0f, 1.0f);
      serial.set_step_seed(uint64_t(step));
      flow.set_step_seed(uint64_t(step));
      serial.run_serial();
      executor.run();
      REQUIRE(serial.value(serial_model.graph.objective) == flow.value(flow_model.graph.objective));
    }
    const size_t bytes = sizeof(float) * size_t(serial_model.parameters->total());
    CHECK(std::memcmp(serial_model.parameters->values(), flow_model.parameters->values(), bytes) == 0);
    for (int k = 0; k < serial_model.parameters->states(); ++k)
      CHECK(std::memcmp(serial_model.parameters->state(k), flow_model.parameters->state(k), bytes) == 0);
  }
}
