// Whole-graph gradient checks: tied weights, weighted multi-term objectives, a value read twice, scalar
// values in the loss, and a corruption in the path. The per-op checks live next to each op's tests.
#include "gradient_check.h"

using hg::test::check_gradients;
using hg::test::GradientCase;

TEST_CASE("tied weights collect the gradient of both uses") {
  check_gradients(
      {"code = dense(x, 3) |> sigmoid\nr = dense(code, 6, tied=code) |> sigmoid\nloss = loss.bce(r, x)"});
}

TEST_CASE("a weighted sum of terms gets the weighted sum of their gradients") {
  check_gradients(
      {"h = dense(x, 4) |> sigmoid\nr = dense(h, 6) |> sigmoid\n"
       "loss = 0.5 * loss.bce(r, x) + 2 * loss.mse(r, x) - loss.mse(r, x) / 4"});
}

TEST_CASE("a value used twice sums the gradients from both consumers") {
  check_gradients(
      {"h = dense(x, 4) |> tanh\na = dense(h, 6) |> sigmoid\nb = dense(h, 6) |> sigmoid\n"
       "loss = loss.mse(a, x) + loss.bce(b, x)"});
}

TEST_CASE("gradients flow through an active corruption") {
  check_gradients(
      {"n = corrupt.gaussian(x, sigma=0.2)\nh = dense(n, 4) |> tanh\nr = dense(h, 6) |> sigmoid\n"
       "loss = loss.bce(r, x)"});
}

TEST_CASE("a per-sample scalar value in the loss is averaged over the batch, with its weight") {
  check_gradients(
      {"h = dense(x, 4) |> tanh\ns = dense(h, 1)\nr = dense(h, 6) |> sigmoid\n"
       "loss = loss.bce(r, x) + 0.5 * s"});
}
