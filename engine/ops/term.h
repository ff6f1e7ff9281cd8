// Plugin terms inside the graph (ops/term.cpp): the objective seeds each term's gradients through this.
#pragma once

#include "autodiff/gradient_context.h"

namespace hg {

// d objective / d each input of `term` that needs a gradient, given d objective / d term = `weight`.
void add_term_gradients(GradientContext& context, NodeId term, double weight);

}  // namespace hg
