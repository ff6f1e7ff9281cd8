// Walks the op table: every op a graph file can call has a finite-difference gradient check registered by
// its own test file (HG_GRADIENT_CASE), and each of them passes. An op added without one fails here.
#include "gradient_check.h"
#include "ops/ops.h"

using namespace hg;

TEST_CASE("every callable op in the registry has gradient checks, and they pass") {
  int ops = 0;
  for (const Op* op : builtin_ops().ops()) {
    if (!op->callable()) continue;
    ++ops;
    CAPTURE(op->name());
    auto it = test::gradient_cases().find(op->name());
    REQUIRE_MESSAGE(it != test::gradient_cases().end(),
                    "op '" << op->name() << "' has no HG_GRADIENT_CASE in tests/ops/");
    for (const test::GradientCase& c : it->second) test::check_gradients(c);
  }
  CHECK(ops >= 11);
}

TEST_CASE("every registered gradient case names an op of the table") {
  for (const auto& [name, cases] : test::gradient_cases()) {
    CAPTURE(name);
    CHECK(builtin_ops().find(name) != nullptr);
  }
}
