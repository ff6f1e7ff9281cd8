// The real MNIST and Fashion-MNIST test sets, when scripts/fetch-data.sh has put them in data/; skipped
// with a message otherwise, so the suite still runs on a fresh checkout.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

using namespace hg;

namespace {

const std::string kData = HG_SOURCE_DIR "/data";

bool present(const std::string& path) {
  if (std::filesystem::exists(path)) return true;
  MESSAGE("skipped: " << path << " is missing; run scripts/fetch-data.sh");
  return false;
}

void check_test_set(const Dataset& data, int32_t first_label) {
  CHECK(data.count == 10000);
  CHECK(data.item_dims == std::vector<int64_t>{28, 28});
  CHECK(data.pixels.size() == size_t(10000 * 28 * 28));  // one byte per pixel: 7.8 MB, not 31 MB of floats
  CHECK(data.labels.size() == 10000);
  CHECK(data.labels[0] == first_label);
  CHECK(data.num_classes == 10);
  std::vector<float> floats(size_t(data.count * data.features()));
  for (int64_t i = 0; i < data.count; ++i) data.copy_image(i, floats.data() + i * data.features());
  const auto [low, high] = std::minmax_element(floats.begin(), floats.end());
  CHECK(*low == 0.0f);
  CHECK(*high == 1.0f);
}

}  // namespace

TEST_CASE("the real MNIST test set loads: 10000 digits of 28x28, the first a 7") {
  const std::string images = kData + "/mnist/t10k-images-idx3-ubyte";
  if (!present(images)) return;
  check_test_set(read_idx({images, kData + "/mnist/t10k-labels-idx1-ubyte", 1.0f / 255}), 7);
}

TEST_CASE("the real Fashion-MNIST test set loads from .gz: 10000 items, the first an ankle boot") {
  const std::string images = kData + "/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!present(images)) return;
  check_test_set(read_idx({images, kData + "/fashion-mnist/t10k-labels-idx1-ubyte.gz", 1.0f / 255}), 9);
}
