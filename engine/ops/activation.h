// The activation family (ops/activation.cpp): linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, gelu,
// silu and softplus, one op each. Dense reads these attributes to fuse an activation into its GEMM.
#pragma once

#include "ir/graph.h"
#include "kernels/activation.h"

namespace hg {

struct ActivationAttributes : Attributes {
  Activation kind = Activation::Linear;
  float alpha = 0;  // leaky_relu's negative slope, elu's scale; 0 for the rest
};

}  // namespace hg
