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
