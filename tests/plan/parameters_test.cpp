// The parameter store: initial values exactly as the standard library's generator gives them, only the
// optimizer's own state arenas, and buffers that are aligned for huge pages.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "graph_fixture.h"
#include "ir/lower_util.h"
#include "plan/parameters.h"

using namespace hg;

namespace {

std::vector<float> standard_glorot(int64_t count, uint64_t seed, double limit) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uniform(-limit, limit);
  std::vector<float> out(static_cast<size_t>(count));
  for (float& v : out) v = float(uniform(rng));
  return out;
}

}  // namespace

TEST_CASE("glorot_fill gives bit for bit the standard mt19937_64 and uniform_real_distribution values") {
  // Lengths around the generator's 312-word block, and seeds with high bits set.
  for (int64_t count : {1, 311, 312, 313, 624, 1000, 784000})
    for (uint64_t seed : {uint64_t(0), uint64_t(7), uint64_t(0xfedcba9876543210ULL)})
      for (double limit : {0.0677, 1.0, 0.0001}) {
        CAPTURE(count);
        CAPTURE(seed);
        CAPTURE(limit);
        const std::vector<float> expected = standard_glorot(count, seed, limit);
        std::vector<float> got(size_t(count), -7.0f);
        glorot_fill(got.data(), count, seed, limit);
        REQUIRE(std::memcmp(got.data(), expected.data(), sizeof(float) * size_t(count)) == 0);
      }
}

TEST_CASE("initialize draws each weight matrix from its own named stream and zeroes biases and state") {
  test::TestModel m = test::model_from_text(test::kStackedAutoencoder, true, 11);
  ParameterStore& store = *m.parameters;
  for (const ParameterSlot& s : store.slots()) {
    CAPTURE(s.name);
    const float* p = store.values() + s.offset;
    if (s.dims.size() < 2) {
      for (int64_t i = 0; i < s.count; ++i) REQUIRE(p[i] == 0.0f);
      continue;
    }
    const double fan_out = double(s.dims[0]), fan_in = double(s.count) / fan_out;
    const std::vector<float> expected =
        standard_glorot(s.count, 11 ^ std::strtoull(fnv1a_hex(s.name).c_str(), nullptr, 16),
                        std::sqrt(6.0 / (fan_in + fan_out)));
    CHECK(std::memcmp(p, expected.data(), sizeof(float) * size_t(s.count)) == 0);
  }
  for (int which = 0; which < store.states(); ++which)
    for (int64_t i = 0; i < store.total(); ++i) REQUIRE(store.state(which)[i] == 0.0f);
}

TEST_CASE(
    "initializer = fan_in draws each layer's weights and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in))") {
  // PyTorch's fan_in: a dense layer's inputs, a convolution's input channels x k x k, a transposed
  // convolution's output channels x k x k. A batchnorm's scale and shift keep their ones and zeros.
  const std::string text =
      "input x : [1, 8, 8] <- image\n"
      "e = conv2d(x, 4, kernel=3, stride=2, pad=1) |> relu\n"
      "n = batchnorm(e)\n"
      "f = flatten(n)\n"
      "c = dense(f, 6) |> relu\n"
      "u = dense(c, 64)\n"
      "v = reshape(u, 4, 4, 4)\n"
      "d = deconv2d(v, 1, kernel=4, stride=2, pad=1) |> sigmoid\n"
      "loss = loss.bce(d, x)\n"
      "train { optimizer = adam(lr=0.001) batch = 4 initializer = fan_in }\n";
  test::TestModel m = test::model_from_text(text, true, 5);
  REQUIRE(m.graph.train.initializer == "fan_in");
  ParameterStore& store = *m.parameters;
  store.initialize(5, true);
  const std::map<std::string, int64_t> fan_in = {{"e.weights", 9},  {"e.bias", 9},    {"c.weights", 64},
                                                 {"c.bias", 64},    {"u.weights", 6}, {"u.bias", 6},
                                                 {"d.weights", 16}, {"d.bias", 16}};
  int checked = 0;
  for (const ParameterSlot& s : store.slots()) {
    CAPTURE(s.name);
    const float* p = store.values() + s.offset;
    if (s.name == "n.weights" || s.name == "n.bias" || s.name == "n.running_mean" ||
        s.name == "n.running_var") {
      const float fill = s.name == "n.weights" || s.name == "n.running_var" ? 1.0f : 0.0f;
      for (int64_t i = 0; i < s.count; ++i) REQUIRE(p[i] == fill);
      continue;
    }
    REQUIRE(fan_in.count(s.name) == 1);
    CHECK(s.fan_in == fan_in.at(s.name));
    const std::vector<float> expected =
        standard_glorot(s.count, 5 ^ std::strtoull(fnv1a_hex(s.name).c_str(), nullptr, 16),
                        1.0 / std::sqrt(double(s.fan_in)));
    CHECK(std::memcmp(p, expected.data(), sizeof(float) * size_t(s.count)) == 0);
    ++checked;
  }
  CHECK(checked == 8);
  // The default keeps Glorot weights and zero biases for the same graph.
  store.initialize(5);
  for (const ParameterSlot& s : store.slots())
    if (s.name == "c.bias")
      for (int64_t i = 0; i < s.count; ++i) REQUIRE(store.values()[s.offset + i] == 0.0f);
}

TEST_CASE("initializer is glorot or fan_in, in the train block and through --set") {
  std::string text = test::kStackedAutoencoder;
  text.replace(text.find("batch"), 5, "initializer = he batch");
  std::string message;
  try {
    test::model_from_text(text);
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message == "test.graph:7:61: error: 'initializer' is glorot or fan_in, got he");

  TrainSettings settings;
  apply_setting(settings, "initializer=fan_in");
  CHECK(settings.initializer == "fan_in");
  CHECK_THROWS_WITH(apply_setting(settings, "initializer=xavier"),
                    "--set initializer=xavier: error: initializer is glorot or fan_in, got 'xavier'");
  CHECK(settings.initializer == "fan_in");
}

TEST_CASE("the store allocates the optimizer's state arenas only: one for SGD, two for Adam") {
  test::TestModel sgd = test::model_from_text(test::kStackedAutoencoder);
  CHECK(sgd.parameters->states() == 1);
  CHECK_THROWS_AS(sgd.parameters->state(1), std::out_of_range);
  std::string text = test::kStackedAutoencoder;
  text.replace(text.find("sgd(lr=0.1, momentum=0.9)"), 25, "adam(lr=0.01)");
  test::TestModel adam = test::model_from_text(text);
  CHECK(adam.parameters->states() == 2);
  CHECK(adam.parameters->state(1) != adam.parameters->state(0));
}

TEST_CASE("large buffers are 2 MB aligned for huge pages, small ones 64-byte aligned, all zeroed") {
  FloatBuffer large(1'000'000), small(100);
  CHECK(reinterpret_cast<uintptr_t>(large.data()) % (2 << 20) == 0);
  CHECK(reinterpret_cast<uintptr_t>(small.data()) % 64 == 0);
  for (int64_t i = 0; i < large.size(); i += 997) REQUIRE(large.data()[i] == 0.0f);
  CHECK(large.data()[large.size() - 1] == 0.0f);
}

TEST_CASE("a large buffer written at once keeps what was written while its pages are faulted in") {
  // The helper thread that makes a large buffer's pages present must leave their contents alone, also
  // where the caller got there first; and moving buffers, or assigning over one, waits for it.
  auto pattern = [](int64_t i) { return float(i % 1009) + 0.5f; };
  for (int round = 0; round < 4; ++round) {
    CAPTURE(round);
    FloatBuffer buffer(3'000'000);
    for (int64_t i = 0; i < buffer.size(); ++i) buffer.data()[i] = pattern(i);
    FloatBuffer moved = std::move(buffer);
    int64_t wrong = 0;
    for (int64_t i = 0; i < moved.size(); ++i) wrong += moved.data()[i] != pattern(i);
    CHECK(wrong == 0);
    moved = FloatBuffer(700'000);  // the first buffer's memory goes here
    FloatBuffer other(5'000'000);
    for (int64_t i = 0; i < other.size(); i += 4093) other.data()[i] = 1.0f;
    wrong = 0;
    for (int64_t i = 0; i < other.size(); ++i) wrong += other.data()[i] != (i % 4093 == 0 ? 1.0f : 0.0f);
    for (int64_t i = 0; i < moved.size(); ++i) wrong += moved.data()[i] != 0.0f;
    CHECK(wrong == 0);
  }
}
