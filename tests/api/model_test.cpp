// The library API (include/hourglass/model.hpp) through libhourglass.so alone: the same values as
// `hourglass encode`, the runner's error messages, shapes, reuse of plans without allocating, and separate
// models on separate threads. Checkpoints come from the runner, as a user's would.
#include <doctest/doctest.h>
#include <unistd.h>
#include <hourglass/model.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "counting_allocator.h"
#include "test_skip.h"
#include "tools/tool_runner.h"

namespace {

using hg::test::contains;
using hg::test::run_tool;
using hg::test::tool_scratch;

// Rows of float32 from a .npy that `hourglass encode` wrote (format 1.0, little-endian '<f4', C order).
std::vector<float> read_npy(const std::string& path) {
  const std::string bytes = hg::test::read_file(path);
  REQUIRE(bytes.size() > 10);
  REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
  const size_t header = 10 + size_t(uint8_t(bytes[8])) + 256 * size_t(uint8_t(bytes[9]));
  REQUIRE(bytes.find("'<f4'") < header);
  std::vector<float> values((bytes.size() - header) / sizeof(float));
  std::memcpy(values.data(), bytes.data() + header, values.size() * sizeof(float));
  return values;
}

// A scratch file of this process: CTest runs the test cases side by side, each in a process of its own.
std::string scratch(const std::string& name) {
  return tool_scratch("api-" + std::to_string(getpid()) + "-" + name);
}

// mnist_ae32 after one short epoch, and the first `count` test images as its input receives them.
struct Trained {
  std::string graph = "graphs/mnist_ae32.graph", checkpoint = scratch("ae32.safetensors");
  std::vector<float> images;
  int64_t count = 300;
  Trained() {
    const hg::test::ToolResult r = run_tool(
        "train " + graph + " --set epochs=1 --limit 600 --threads 2 --out " + checkpoint + " --force");
    REQUIRE_MESSAGE(r.status == 0, r.output);
    images = encoded("x");
  }
  // `hourglass encode` of a node on the first `count` test images.
  std::vector<float> encoded(const std::string& node) const {
    const std::string out = scratch(node + ".npy");
    const hg::test::ToolResult r = run_tool("encode " + graph + " --ckpt " + checkpoint + " --node " + node +
                                            " --limit " + std::to_string(count) + " --out " + out);
    REQUIRE_MESSAGE(r.status == 0, r.output);
    return read_npy(out);
  }
};

// |a - b| <= 1e-5 * max(1, |b|) everywhere: the tolerance for the same network at other batch sizes, where
// oneDNN may pick other kernels and sum in another order.
void check_close(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
  CHECK(worst <= 1e-5);
}

hourglass::Model load(const Trained& t, int threads = 2) {
  hourglass::LoadOptions options;
  options.threads = threads;
  return hourglass::Model::load(t.graph, t.checkpoint, options);
}

}  // namespace

TEST_CASE("the API encodes and reconstructs as hourglass encode does") {
  const Trained t;
  hourglass::Model model = load(t);
  const int64_t n = t.count;
  std::vector<float> code(size_t(n * 32)), recon(size_t(n * 784));
  model.encode("code", t.images.data(), n, code.data());
  check_close(code, t.encoded("code"));
  model.reconstruct(t.images.data(), n, recon.data());
  check_close(recon, t.encoded("recon"));

  // The decoder from the code gives the reconstruction again, and one sample at a time gives the same.
  std::vector<float> decoded(recon.size()), one(784);
  model.decode("code", code.data(), n, decoded.data());
  check_close(decoded, recon);
  for (int64_t i : {int64_t(0), int64_t(57), n - 1}) {
    model.reconstruct(t.images.data() + i * 784, 1, one.data());
    check_close(one, std::vector<float>(recon.begin() + i * 784, recon.begin() + (i + 1) * 784));
  }
}

TEST_CASE("the API names the graph's values and their shapes") {
  const Trained t;
  const hourglass::Model model = load(t);
  CHECK(model.input() == "x");
  CHECK(model.input_shape().dims == std::vector<int64_t>{784});
  CHECK(model.output() == "recon");
  CHECK(model.shape("code").dims == std::vector<int64_t>{32});
  CHECK(model.shape("code").elements() == 32);
  const std::vector<std::string> nodes = model.nodes();
  CHECK(std::find(nodes.begin(), nodes.end(), "code") != nodes.end());
  CHECK(std::find(nodes.begin(), nodes.end(), "code.weights") == nodes.end());
}

TEST_CASE("the API's errors carry the runner's messages") {
  const Trained t;
  hourglass::Model model = load(t);
  std::vector<float> out(784);
  CHECK_THROWS_WITH_AS(
      model.encode("cod", t.images.data(), 1, out.data()),
      "hourglass::Model node 'cod': error: graphs/mnist_ae32.graph has no node 'cod' (did you "
      "mean 'code'?)",
      hourglass::Error);
  CHECK_THROWS_WITH_AS(model.shape("code.weights"),
                       doctest::Contains("'code.weights' is a parameter, not an activation"),
                       hourglass::Error);

  // A missing checkpoint and a graph with a syntax error: the same text as the runner prints.
  const std::string missing = scratch("no-such.safetensors");
  hg::test::ToolResult r =
      run_tool("encode " + t.graph + " --ckpt " + missing + " --node code --out " + scratch("e.npy"));
  REQUIRE(r.status == 1);
  try {
    hourglass::Model::load(t.graph, missing);
    FAIL("a missing checkpoint loaded");
  } catch (const hourglass::Error& e) {
    CHECK(!std::string(e.what()).empty());
    CHECK(contains(r.output, e.what()));
  }
  const std::string broken = scratch("broken.graph");
  std::ofstream(broken) << "input x : [784] <- image\ncode = dense(x, 32 |> sigmoid\n";
  r = run_tool("check " + broken);
  REQUIRE(r.status == 1);
  try {
    hourglass::Model::load(broken, t.checkpoint);
    FAIL("a broken graph loaded");
  } catch (const hourglass::Error& e) {
    CHECK(contains(e.what(), broken + ":2:"));
    CHECK(contains(r.output, e.what()));
  }

  // A classifier reconstructs nothing; a checkpoint of another graph does not fit.
  CHECK_THROWS_WITH_AS(hourglass::Model::load("graphs/mnist_mlp.graph", t.checkpoint),
                       doctest::Contains(t.checkpoint.c_str()), hourglass::Error);
  hourglass::LoadOptions options;
  options.threads = -1;
  CHECK_THROWS_WITH_AS(
      hourglass::Model::load(t.graph, t.checkpoint, options),
      "hourglass::LoadOptions: error: threads must be between 0 (every core) and 1024, not -1",
      hourglass::Error);
}

TEST_CASE("a steady-state API call allocates nothing outside oneDNN") {
#if HG_COUNTING_ALLOCATOR
  const Trained t;
  hourglass::Model model = load(t);
  std::vector<float> code(size_t(t.count * 32)), recon(size_t(t.count * 784));
  const auto calls = [&] {
    model.encode("code", t.images.data(), t.count, code.data());
    model.reconstruct(t.images.data(), t.count, recon.data());
    model.decode("code", code.data(), t.count, recon.data());
  };
  calls();  // plans each (node, batch size) once: 256 and the remaining 44 samples
  calls();
  REQUIRE(hg::test::tbb_allocates_through_malloc());
  const hg::test::AllocationCounts counts = hg::test::count_allocations([&] {
    for (int i = 0; i < 5; ++i) calls();
  });
  MESSAGE(counts.outside_dnnl, " allocations outside oneDNN, ", counts.inside_dnnl,
          " inside oneDNN's primitive execution, over 15 calls");
  if (counts.outside_dnnl != 0) hg::test::print_first_allocations(counts.outside_dnnl);
  CHECK(counts.outside_dnnl == 0);
#else
  hg::test::skip_test("built with AddressSanitizer, which owns malloc: allocations cannot be counted");
#endif
}

TEST_CASE("separate models on separate threads give what one model gives alone") {
  const Trained t;
  hourglass::Model alone = load(t, 1);
  std::vector<float> expected(size_t(t.count * 32));
  alone.encode("code", t.images.data(), t.count, expected.data());
  std::vector<std::vector<float>> codes(2, std::vector<float>(expected.size()));
  std::vector<hourglass::Model> models;
  for (int i = 0; i < 2; ++i) models.push_back(load(t, 1));
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      for (int repeat = 0; repeat < 20; ++repeat)
        models[size_t(i)].encode("code", t.images.data(), t.count, codes[size_t(i)].data());
    });
  for (std::thread& thread : threads) thread.join();
  CHECK(codes[0] == expected);
  CHECK(codes[1] == expected);
}
