// Test helpers for runtime tests on slices of real MNIST (fetched by scripts/fetch-data.sh): graph files
// written under the build folder, and a train() call that collects the per-epoch reports.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace hg::test {

inline const std::string kData = std::string(HG_SOURCE_DIR) + "/data";

inline bool have_mnist() {
  return std::filesystem::exists(kData + "/mnist/train-images-idx3-ubyte");
}

inline std::string scratch_path(const std::string& name) {
  const std::string dir = std::string(HG_BINARY_DIR) + "/test-runtime";
  std::filesystem::create_directories(dir);
  return dir + "/" + name;
}

inline std::string write_graph(const std::string& name, const std::string& text) {
  const std::string path = scratch_path(name);
  std::ofstream(path) << text;
  return path;
}

inline const char* kMnistData =
    "data train = idx(\"mnist/train-images-idx3-ubyte\", labels=\"mnist/train-labels-idx1-ubyte\", "
    "scale=1/255)\n"
    "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", labels=\"mnist/t10k-labels-idx1-ubyte\", "
    "scale=1/255)\n";

inline std::vector<EpochReport> train_slice(Model& model, int64_t limit) {
  std::vector<EpochReport> reports;
  TrainOptions options;
  options.data_dir = kData;
  options.limit = limit;
  options.on_epoch = [&](const EpochReport& r) { reports.push_back(r); };
  train(model, options);
  return reports;
}

}  // namespace hg::test
