// Test helper: builds a graph (and its parameters) from graph-file text with the built-in plugins, so tests
// exercise the same path as a user's file without touching the disk.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "autodiff/autodiff.h"
#include "frontend/parser.h"
#include "ir/builtin_plugins.h"
#include "ir/lower.h"
#include "ir/lower_util.h"
#include "plan/parameters.h"

namespace hg::test {

// A four-layer sigmoid autoencoder on 64 features: enough nodes that the planner reuses arena memory.
inline const char* const kStackedAutoencoder =
    "input x : [64] <- image\n"
    "a = dense(x, 48) |> sigmoid\nb = dense(a, 32) |> sigmoid\nc = dense(b, 48) |> sigmoid\n"
    "r = dense(c, 64) |> sigmoid\nloss = loss.bce(r, x)\ntrain { optimizer = sgd(lr=0.1, momentum=0.9) batch "
    "= 8 }\n";

struct TestModel {
  Graph graph;
  std::unique_ptr<ParameterStore> parameters;
};

inline TestModel model_from_text(const std::string& text, bool backward = true, uint64_t seed = 7) {
  DiagnosticSink sink;
  ast::Program program = parse_graph("test.graph", text, sink);
  sink.throw_if_errors();
  TestModel m{lower(program, text, builtin_ops(), builtin_terms()), nullptr};
  if (backward) append_backward(m.graph);
  m.parameters = std::make_unique<ParameterStore>(m.graph);
  m.parameters->initialize(seed);
  return m;
}

inline void fill_uniform(float* data, int64_t n, uint64_t seed, float lo = 0.05f, float hi = 0.95f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < n; ++i) data[i] = u(rng);
}

}  // namespace hg::test
