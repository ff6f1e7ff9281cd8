// The real MNIST and Fashion-MNIST test sets, when scripts/fetch-data.sh has put them in data/; skipped
// with a message otherwise, so the suite still runs on a fresh checkout.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
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

// The bytes of samples [first, first + count) of an uncompressed IDX images file with 3 dimensions, read
// straight from the file without the data layer.
std::vector<uint8_t> raw_samples(const std::string& path, int64_t first, int64_t count, int64_t item_bytes) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(16 + first * item_bytes);  // magic and 3 dims of 4 bytes each
  std::vector<uint8_t> bytes(size_t(count * item_bytes));
  in.read(reinterpret_cast<char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE(in.gcount() == std::streamsize(bytes.size()));
  return bytes;
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

TEST_CASE("a slice of the real MNIST training set holds the file's bytes and hands out byte * scale") {
  const std::string images = kData + "/mnist/train-images-idx3-ubyte";
  if (!present(images)) return;
  const float scale = 1.0f / 255;
  const Dataset data = read_idx({images, "", scale, 300, 1000});  // samples 1000..1299
  REQUIRE(data.count == 300);
  const std::vector<uint8_t> raw = raw_samples(images, 1000, 300, 784);
  CHECK(data.pixels.size() == size_t(300 * 784));
  CHECK(data.pixels == raw);
  std::vector<float> floats(784);
  int64_t mismatches = 0, inked = 0;
  for (int64_t i = 0; i < data.count; ++i) {
    data.copy_image(i, floats.data());
    for (size_t j = 0; j < 784; ++j) {
      const uint8_t byte = raw[size_t(i) * 784 + j];
      mismatches += floats[j] != float(byte) * scale;  // exactly what the float rows used to hold
      inked += byte > 0;
    }
  }
  CHECK(mismatches == 0);
  CHECK(inked > 300 * 50);  // digits, not an all-zero slice that would match anything
}
