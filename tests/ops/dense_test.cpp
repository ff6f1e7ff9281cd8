// dense: gradient checks with each activation, with and without a bias, and tied.
#include "gradient_check.h"

HG_GRADIENT_CASE("dense", {"h = dense(x, 5) |> tanh\nr = dense(h, 6) |> sigmoid\nloss = loss.mse(r, x)"});
HG_GRADIENT_CASE(
    "dense", {"h = dense(x, 4, bias=0) |> tanh\nr = dense(h, 6, bias=0) |> sigmoid\nloss = loss.bce(r, x)"});
HG_GRADIENT_CASE("dense",
                 {"code = dense(x, 3) |> sigmoid\nr = dense(code, 6, tied=code)\nloss = loss.mse(r, x)"});
