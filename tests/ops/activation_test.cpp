// The activation family: each activation after a dense (fused into its GEMM) and on its own (unfused).
#include "gradient_check.h"

#define HG_ACTIVATION_CASES(name)                                                                       \
  HG_GRADIENT_CASE(name,                                                                                \
                   {"h = dense(x, 5) |> " name "\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)"}); \
  HG_GRADIENT_CASE(name, {"h = dense(x, 5)\na = " name                                                  \
                          "(h)\nr = dense(a, 6) |> sigmoid\nloss = loss.mse(r, x) + loss.mse(h, h)"})

HG_ACTIVATION_CASES("linear");
HG_ACTIVATION_CASES("relu");
HG_ACTIVATION_CASES("sigmoid");
HG_ACTIVATION_CASES("tanh");
HG_GRADIENT_CASE(
    "softmax", {"h = dense(x, 5) |> tanh\nlogits = dense(h, 4)\np = softmax(logits)\nloss = loss.mse(p, y)"});
