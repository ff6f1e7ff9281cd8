// The activation family (ops/activation.cpp): linear, relu, sigmoid, tanh and softmax, one op each.
#pragma once

#include "ir/graph.h"
#include "kernels/activation.h"

namespace hg {

struct ActivationAttributes : Attributes {
  Activation kind = Activation::Linear;
};

}  // namespace hg
