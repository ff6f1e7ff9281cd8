// The pipeline the sweep and report tests run: a one-layer DAE, a classifier that selects on a validation
// split, initialized from the DAE or not, both evaluated, and the summary of the two arms.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "tool_runner.h"

namespace hg::test {

// A folder with a one-layer DAE, a classifier that selects on a validation split, and the pipeline.
inline std::string sweep_pipeline(const std::string& name) {
  const std::string dir = tool_scratch(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string mnist =
      "idx(\"mnist/train-images-idx3-ubyte\", labels=\"mnist/train-labels-idx1-ubyte\", "
      "scale=1/255";
  std::ofstream(dir + "/dae.graph")
      << "data train = idx(\"mnist/train-images-idx3-ubyte\", scale=1/255, "
         "skip=1000, count=400)\n"
         "input x : [784] <- image\nnoisy = corrupt.masking(x, rate=0.25)\n"
         "enc = dense(noisy, 32) |> sigmoid\nrecon = dense(enc, tied=enc) |> sigmoid\n"
         "loss = loss.bce(recon, x)\n"
         "train { optimizer = adam(lr=0.003) batch = 20 epochs = 1 seed = 1 }\n";
  std::ofstream(dir + "/clf.graph") << "data train = " << mnist << ", count=50)\n"
                                    << "data valid = " << mnist << ", skip=59800, count=200)\n"
                                    << "data test = idx(\"mnist/t10k-images-idx3-ubyte\", "
                                       "labels=\"mnist/t10k-labels-idx1-ubyte\", scale=1/255, count=200)\n"
                                       "input x : [784] <- image\ninput y : [10] <- label\n"
                                       "enc = dense(x, 32) |> sigmoid\nlogits = dense(enc, 10)\n"
                                       "loss = loss.softmax_ce(logits, y)\n"
                                       "train { optimizer = adam(lr=0.003) batch = 10 epochs = 6 seed = 1 "
                                       "select = best(valid, accuracy) patience = 3 }\n";
  std::ofstream(dir + "/x.pipeline")
      << "param seed = 1\nparam labels = 50\n"
         "stage dae  = train \"dae.graph\" set { seed=seed } -> \"out/s{seed}/dae.safetensors\"\n"
         "stage pre  = train \"clf.graph\" init dae { \"enc.*\" } set { seed=seed data.train.count=labels }\n"
         "               -> \"out/s{seed}/l{labels}/pre.safetensors\"\n"
         "stage base = train \"clf.graph\" set { seed=seed data.train.count=labels }\n"
         "               -> \"out/s{seed}/l{labels}/base.safetensors\"\n"
         "stage pretrained = eval pre\nstage scratch = eval base\n"
         "stage table = summary { pretrained - scratch } -> \"out/summary\"\n";
  return dir;
}

}  // namespace hg::test
