// sum and mean, per sample and over the whole batch: gradient checks in the loss, in a value and on a
// parameter (the shapes are in elementwise_test.cpp's table).
#include "gradient_check.h"

HG_GRADIENT_CASE("sum", {"h = dense(x, 4) |> tanh\nr = dense(h, 6) |> sigmoid\n"
                         "loss = loss.mse(r, x) + 0.1 * sum(h) - 0.05 * sum(h, batch=1)"});
HG_GRADIENT_CASE("sum", {"h = dense(x, 4) |> tanh\nm = sum(h)\ns = h - m\nr = dense(s, 6) |> sigmoid\n"
                         "loss = loss.mse(r, x) + 0.1 * sum(r.weights)"});
HG_GRADIENT_CASE("mean", {"h = dense(x, 4) |> tanh\nc = h - mean(h)\nr = dense(c, 6) |> sigmoid\n"
                          "loss = loss.mse(r, x) + mean(square(h), batch=1)"});
