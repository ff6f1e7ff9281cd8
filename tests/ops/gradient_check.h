// Finite-difference gradient checks for ops, and the registry of checks that tests/ops/registry_test.cpp
// walks: every callable op in the op table must have at least one case, registered next to its own tests
// with HG_GRADIENT_CASE, so no op can be added without a gradient check.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "graph_fixture.h"
#include "plan/plan.h"

namespace hg::test {

inline const char* const kVectorHeader = "input x : [6] <- image\ninput y : [4] <- label\n";
// Images of 1x6x6 (36 pixels).
inline const char* const kImageHeader = "input x : [1, 6, 6] <- image\ninput y : [4] <- label\n";

struct GradientCase {
  std::string body;  // statements after the header, with a loss
  std::string header = kVectorHeader;
  double tolerance = 2e-2;
};

inline std::map<std::string, std::vector<GradientCase>>& gradient_cases() {
  static std::map<std::string, std::vector<GradientCase>> cases;
  return cases;
}

struct GradientCaseRegistrar {
  GradientCaseRegistrar(const char* op, GradientCase c) { gradient_cases()[op].push_back(std::move(c)); }
};

#define HG_GRADIENT_CONCAT2(a, b) a##b
#define HG_GRADIENT_CONCAT(a, b) HG_GRADIENT_CONCAT2(a, b)
// HG_GRADIENT_CASE("dense", {"h = dense(x, 5) |> tanh\nloss = loss.mse(h, h)"});
#define HG_GRADIENT_CASE(op, ...)                                                                 \
  static const ::hg::test::GradientCaseRegistrar HG_GRADIENT_CONCAT(gradient_case_, __COUNTER__)( \
      op, __VA_ARGS__)

// The objective of a training run at the current parameters. The training plan itself is the one to
// differentiate numerically: only it has training's forward (active corruptions and sampling, batch
// statistics). Its optimizer step moves the parameters by lr (1e-12) times the gradient, far below h.
inline double objective_value(const Graph& g, Plan& train) {
  train.run_serial();
  return train.value(g.objective);
}

// The gradients that autodiff's backward nodes compute through the planned kernels agree with central
// differences of the objective, for a sample of every parameter's elements. Corruptions and sampling draw
// the same numbers in every run (the step seed is fixed), so stochastic ops are checked too.
inline void check_gradients(const GradientCase& c) {
  CAPTURE(c.body);
  // lr = 1e-12 keeps the parameters still while the optimizer step runs; momentum 0 keeps state out of it.
  TestModel m = model_from_text(c.header + c.body + "\ntrain { optimizer = sgd(lr=1e-12) batch = 3 }\n");
  Plan train(m.graph, *m.parameters, builtin_plugins(), 3, PlanMode::Train);
  train.set_step_seed(12345);
  fill_uniform(train.buffer(m.graph.find("x")), 3 * m.graph.node(m.graph.find("x")).elements_per_sample(),
               11);
  if (NodeId y_id = m.graph.find("y"); y_id != kNoNode)
    if (float* y = train.buffer(y_id)) {  // absent when nothing reads the labels
      std::fill(y, y + 12, 0.0f);
      for (int r = 0; r < 3; ++r) y[r * 4 + (r + 1) % 4] = 1.0f;
    }
  train.run_serial();
  const std::vector<float> gradients(m.parameters->gradients(),
                                     m.parameters->gradients() + m.parameters->total());
  int checked = 0;
  for (const ParameterSlot& s : m.parameters->slots()) {
    float* value = m.parameters->values() + s.offset;
    const float* gradient = gradients.data() + s.offset;
    for (int64_t i = 0; i < s.count; i += std::max<int64_t>(1, s.count / 7)) {
      const float saved = value[i];
      const double h = 1e-2;
      value[i] = float(saved + h);
      const double up = objective_value(m.graph, train);
      value[i] = float(saved - h);
      const double down = objective_value(m.graph, train);
      value[i] = saved;
      const double numeric = (up - down) / (2 * h);
      CAPTURE(s.name);
      CAPTURE(i);
      CHECK(std::abs(numeric - gradient[i]) <= c.tolerance * std::max(1e-2, std::abs(numeric)));
      ++checked;
    }
  }
  CHECK(checked > 0);
}

}  // namespace hg::test
