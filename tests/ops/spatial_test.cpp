// Ops on [C, H, W] samples: conv2d, deconv2d, maxpool, avgpool and reshape.
#include "gradient_check.h"

using hg::test::kImageHeader;

HG_GRADIENT_CASE("conv2d",
                 {"c = conv2d(x, 3, kernel=3, pad=1) |> tanh\np = avgpool(c, kernel=2)\nf = reshape(p, 27)\n"
                  "r = dense(f, 36) |> sigmoid\nflat = reshape(x, 36)\nloss = loss.mse(r, flat)",
                  kImageHeader});
HG_GRADIENT_CASE(
    "conv2d", {"e = conv2d(x, 2, kernel=3, bias=0) |> tanh\nr = deconv2d(e, 1, kernel=3, bias=0) |> sigmoid\n"
               "loss = loss.bce(r, x)",
               kImageHeader});
HG_GRADIENT_CASE("deconv2d",
                 {"e = conv2d(x, 2, kernel=4, stride=2, pad=1) |> tanh\n"
                  "r = deconv2d(e, 1, kernel=4, stride=2, pad=1) |> sigmoid\nloss = loss.bce(r, x)",
                  kImageHeader});
HG_GRADIENT_CASE(
    "maxpool", {"c = conv2d(x, 2, kernel=3, stride=2, pad=1) |> sigmoid\np = maxpool(c, kernel=3, stride=1)\n"
                "f = reshape(p, 2)\nlogits = dense(f, 4)\nloss = loss.softmax_ce(logits, y)",
                kImageHeader});
HG_GRADIENT_CASE("avgpool",
                 {"c = conv2d(x, 3, kernel=3, pad=1) |> tanh\np = avgpool(c, kernel=2)\nf = reshape(p, 27)\n"
                  "r = dense(f, 4)\nloss = loss.softmax_ce(r, y)",
                  kImageHeader});
HG_GRADIENT_CASE("reshape", {"c = conv2d(x, 1, kernel=3, pad=1) |> tanh\nf = reshape(c, 36)\nloss = "
                             "loss.mse(f, f) + loss.bce(reshape(x, 36) |> sigmoid, f |> sigmoid)",
                             kImageHeader});
