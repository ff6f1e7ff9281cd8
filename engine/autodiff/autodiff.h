// Reverse-mode differentiation on the static graph: appends, for every forward node that depends on a
// trainable parameter, the nodes that compute its gradient, then one OptimizerStep node that takes every
// (parameter, gradient) pair. Keeping the step a single distinct node leaves room for an all-reduce before
// it.
#pragma once

#include "ir/graph.h"

namespace hg {

void append_backward(Graph& graph);

}  // namespace hg
