// DataPipeline::take: a batch's images arrive in the plan's input buffer as floats, byte * scale, in the
// seeded shuffle's order; its labels one-hot beside them.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "graph_fixture.h"
#include "plan/plan.h"
#include "runtime/pipeline.h"

using namespace hg;

TEST_CASE("a gathered batch holds each sample's bytes times the scale, in shuffled order, labels one-hot") {
  test::TestModel m = test::model_from_text(
      "input x : [6] <- image\ninput y : [4] <- label\nlogits = dense(x, 4)\nloss = loss.softmax_ce(logits, "
      "y)\n"
      "train { optimizer = sgd(lr=0.1) batch = 3 }\n",
      false);
  Dataset data;
  data.count = 7;
  data.item_dims = {2, 3};
  data.scale = 0.1f;  // not a power of two, so the product rounds
  for (int i = 0; i < 7 * 6; ++i) data.pixels.push_back(uint8_t(i * 37 + 5));
  data.labels = {0, 1, 2, 3, 0, 1, 2};
  data.num_classes = 4;

  DataPipeline pipeline(m.graph, data, 3, true, 9);
  Plan plan(m.graph, *m.parameters, test::builtin_plugins(), 3, PlanMode::Eval);
  pipeline.begin_epoch(2);
  REQUIRE(pipeline.take(1, plan) == 3);
  const float* x = plan.buffer(m.graph.find("x"));
  const float* y = plan.buffer(m.graph.find("y"));
  REQUIRE(x != nullptr);
  REQUIRE(y != nullptr);
  std::vector<int64_t> samples;
  for (int64_t r = 0; r < 3; ++r) {
    const int64_t sample = pipeline.sample_index(3 + r);
    samples.push_back(sample);
    for (int64_t j = 0; j < 6; ++j) {
      const uint8_t byte = data.pixels[size_t(sample * 6 + j)];
      CHECK(x[r * 6 + j] == float(byte) * 0.1f);
    }
    for (int64_t c = 0; c < 4; ++c) CHECK(y[r * 4 + c] == (c == data.labels[size_t(sample)] ? 1.0f : 0.0f));
  }
  CHECK(samples != std::vector<int64_t>{3, 4, 5});  // the seeded shuffle moved this batch's samples
}

namespace {

// A float32 .npy of `rows` x 784 zeros, sparse on disk (its data is a hole), so that a test can map more
// than the residency budget without writing it.
std::string sparse_npy(const std::string& name, int64_t rows) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) + ", 784), }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t length = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  out.close();
  std::filesystem::resize_file(path, 10 + header.size() + uint64_t(rows) * 784 * 4);
  return path;
}

}  // namespace

TEST_CASE(
    "data streamed from a mapping beyond its budget is shuffled in blocks, every sample once an epoch") {
  test::TestModel m = test::model_from_text(
      "input x : [784] <- image\nr = dense(x, 784)\nloss = loss.mse(r, x)\ntrain { batch = 128 }\n", false);
  const int64_t rows = 90000;  // 282 MB of float32 rows, over the 256 MB budget
  const std::string path = sparse_npy("hourglass_block_shuffle.npy", rows);
  const Dataset data = read_npy({path, "", 1.0f, 0, 0});
  REQUIRE(data.mapping->size() > FileMapping::kResidentBudget);
  const int64_t block = (int64_t(8) << 20) / (784 * 4);  // samples per 8 MB block
  auto order_of = [&](uint64_t seed, int64_t epoch) {
    DataPipeline pipeline(m.graph, data, 128, true, seed);
    pipeline.begin_epoch(epoch);
    std::vector<int64_t> order;
    for (int64_t i = 0; i < rows; ++i) order.push_back(pipeline.sample_index(i));
    return order;
  };
  const std::vector<int64_t> first = order_of(3, 1);
  std::vector<int64_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < rows; ++i) REQUIRE(sorted[size_t(i)] == i);  // a permutation
  CHECK(first == order_of(3, 1));                                      // seeded
  CHECK(first != order_of(3, 2));                                      // reshuffled each epoch
  CHECK(first != order_of(4, 1));
  // Each batch comes from at most two windows of 4 blocks; a full shuffle would spread a batch of 128 over
  // most of the file's 34 blocks.
  size_t most = 0;
  for (int64_t b = 0; b + 128 <= rows; b += 128) {
    std::set<int64_t> blocks;
    for (int64_t i = b; i < b + 128; ++i) blocks.insert(first[size_t(i)] / block);
    most = std::max(most, blocks.size());
  }
  CHECK(most <= 8);
  // Within a window, the samples are mixed: neighbours in the order are rarely neighbours in the file.
  int64_t adjacent = 0;
  for (int64_t i = 1; i < rows; ++i) adjacent += std::abs(first[size_t(i)] - first[size_t(i - 1)]) == 1;
  CHECK(adjacent < rows / 100);
  std::filesystem::remove(path);
}
