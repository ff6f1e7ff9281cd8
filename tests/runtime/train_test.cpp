// Training and evaluation end to end on slices of real MNIST (fetched by scripts/fetch-data.sh): the loss
// falls, a fixed seed reproduces bit for bit, accuracy is reported for labelled graphs, and a plugin's
// failure surfaces at the graph line that uses it.
#include <doctest/doctest.h>

#include <cstring>
#include <optional>

#include "mnist_fixture.h"
#include "runtime/checkpoint.h"
#include "runtime/executor.h"
#include "runtime/model.h"
#include "test_skip.h"

using namespace hg;

namespace {

using test::have_mnist;
using test::kData;
using test::kMnistData;
using test::train_slice;
using test::write_graph;

std::string autoencoder() {
  return std::string(kMnistData) +
         "input x : [784] <- image\ncode = dense(x, 32) |> relu\nrecon = dense(code, 784) |> sigmoid\n"
         "loss = loss.bce(recon, x)\ntrain { optimizer = adam(lr=0.002) batch = 50 epochs = 2 seed = 3 }\n";
}

}  // namespace

TEST_CASE("an autoencoder trained on 2000 MNIST digits lowers its test loss") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  Model model(write_graph("ae.graph", autoencoder()), {});
  const Dataset test = load_data(model.graph, "test", kData, 500);
  const double before = evaluate(model, test, 50).loss;
  const std::vector<EpochReport> reports = train_slice(model, 2000);
  REQUIRE(reports.size() == 2);
  REQUIRE(reports[1].eval("test"));
  CHECK(reports[1].eval("test")->samples == 2000);
  CHECK(reports[1].train.loss < reports[0].train.loss);
  const double after = evaluate(model, test, 50).loss;
  CHECK(after < 0.75 * before);
  CHECK(after < 0.3);  // per-pixel BCE: an untrained net is near 0.69
}

TEST_CASE("the same seed and thread count give bit-identical weights") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = write_graph("ae_seed.graph", autoencoder());
  Model a(path, {}), b(path, {}), c(path, ModelOptions{{}, {"seed=4"}});
  train_slice(a, 1000);
  train_slice(b, 1000);
  train_slice(c, 1000);
  const size_t bytes = sizeof(float) * size_t(a.parameters.total());
  CHECK(std::memcmp(a.parameters.values(), b.parameters.values(), bytes) == 0);
  CHECK(std::memcmp(a.parameters.values(), c.parameters.values(), bytes) != 0);
}

TEST_CASE("a profiled run reports every plan step per training step, and changes nothing it trains") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = write_graph("ae_profile.graph", autoencoder());
  Model plain(path, {}), profiled(path, {});
  const std::vector<EpochReport> plain_reports = train_slice(plain, 1000);
  std::optional<StepProfile> profile;
  std::vector<EpochReport> reports;
  TrainOptions options;
  options.data_dir = kData;
  options.limit = 1000;
  options.on_epoch = [&](const EpochReport& r) { reports.push_back(r); };
  options.on_profile = [&](const StepProfile& p) { profile = p; };
  train(profiled, options);
  REQUIRE(profile.has_value());
  CHECK(profile->steps == 2 * (1000 / 50) - 1);  // 2 epochs of 20 steps, the first step left out
  bool optimizer = false, dense = false;
  double inside = 0;
  for (const StepProfile::Part& part : profile->parts) {
    CHECK(part.seconds >= 0);
    optimizer = optimizer || part.name == "optimizer_step (optimizer_step)";
    dense = dense || part.name == "code.dense (dense)";
    inside += part.seconds;
  }
  CHECK(optimizer);
  CHECK(dense);
  CHECK(inside > 0);
  CHECK(profile->between_steps >= 0);
  // The per-step means times the steps cannot exceed the epochs' wall time, which also covers the tests.
  CHECK((inside + profile->between_steps) * double(profile->steps) <=
        reports[0].seconds + reports[1].seconds);
  CHECK(std::memcmp(plain.parameters.values(), profiled.parameters.values(),
                    sizeof(float) * size_t(plain.parameters.total())) == 0);
  CHECK(reports[1].train.loss == plain_reports[1].train.loss);
}

TEST_CASE("a classifier reports accuracy, and evaluation covers a partial last batch") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  Model model(
      write_graph("mlp.graph", std::string(kMnistData) +
                                   "input x : [784] <- image\ninput y : [10] <- label\n"
                                   "h = dense(x, 64) |> relu\nlogits = dense(h, 10)\n"
                                   "loss = loss.softmax_ce(logits, y)\n"
                                   "train { optimizer = adam(lr=0.003) batch = 32 epochs = 3 seed = 1 }\n"),
      {});
  train_slice(model, 3000);
  const Dataset test = load_data(model.graph, "test", kData, 1010);
  const EvalResult result = evaluate(model, test, 32);  // 31 full batches and a tail of 18
  CHECK(result.samples == 1010);
  REQUIRE(result.accuracy.has_value());
  CHECK(*result.accuracy > 0.85);
}

TEST_CASE("a checkpoint round-trips every parameter, and eval on it reproduces the loss") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = write_graph("ae_ckpt.graph", autoencoder());
  Model trained(path, {});
  train_slice(trained, 500);
  const std::string checkpoint = std::string(HG_BINARY_DIR) + "/test-graphs/ae.safetensors";
  save_checkpoint(checkpoint, trained, {});
  Model loaded(path, ModelOptions{{}, {"seed=99"}});
  load_checkpoint(checkpoint, loaded);
  CHECK(std::memcmp(trained.parameters.values(), loaded.parameters.values(),
                    sizeof(float) * size_t(trained.parameters.total())) == 0);
  const Dataset test = load_data(trained.graph, "test", kData, 300);
  CHECK(evaluate(trained, test, 50).loss == evaluate(loaded, test, 50).loss);
}

TEST_CASE("an input that does not fit the data is an error at the input's line") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  Model model(write_graph("wrong_width.graph", std::string(kMnistData) +
                                                   "input x : [100] <- image\nr = dense(x, 100) |> sigmoid\n"
                                                   "loss = loss.mse(r, x)\n"),
              {});
  try {
    train_slice(model, 100);
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(e.diagnostics()[0].where.line == 3);
    CHECK(std::string(e.what()).find("input 'x' is [100] (100 features), but the images in") !=
          std::string::npos);
  }
}

TEST_CASE("a plugin term that throws is reported at the graph line that uses it") {
  const std::string path =
      write_graph("throwing.graph",
                  "input x : [8] <- image\nh = dense(x, 4) |> sigmoid\nr = dense(h, 8) |> sigmoid\n"
                  "loss = loss.mse(r, x) + 0.1 * throwing.guarded(h)\ntrain { batch = 2 }\n");
  Model model(path, ModelOptions{{std::string(HG_TEST_PLUGIN_DIR) + "/throwing"}, {}});
  Plan plan(model.graph, model.parameters, model.plugins, 2, PlanMode::Train);
  Executor executor(plan);
  try {
    executor.run();
    FAIL("expected the plugin's error");
  } catch (const Error& e) {
    const std::string message = e.what();
    CHECK(message.find(path + ":4:31: error: term 'throwing.guarded'") == 0);
    CHECK(message.find("the term exploded") != std::string::npos);
  }
  // The failed run leaves the engine usable: the same plan runs again and fails the same way, no crash.
  CHECK_THROWS_AS(executor.run(), Error);
}

TEST_CASE("a sliced binding trains on its slice, and test_every skips the test pass on other epochs") {
  if (!have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string graph =
      "data train = idx(\"mnist/train-images-idx3-ubyte\", labels=\"mnist/train-labels-idx1-ubyte\", "
      "scale=1/255, skip=100, count=300)\n"
      "data test  = idx(\"mnist/t10k-images-idx3-ubyte\", scale=1/255, count=200)\n"
      "input x : [784] <- image\ncode = dense(x, 16) |> relu\nrecon = dense(code, 784) |> sigmoid\n"
      "loss = loss.bce(recon, x)\n"
      "train { optimizer = adam(lr=0.002) batch = 50 epochs = 3 seed = 3 test_every = 2 }\n";
  Model model(write_graph("sliced.graph", graph), {});
  const Dataset whole = load_data(model.graph, "train", kData, 0);
  CHECK(whole.count == 300);
  Graph unsliced = model.graph;
  unsliced.data[0].skip = 0;
  unsliced.data[0].count = 0;
  const Dataset first = load_data(unsliced, "train", kData, 400);
  CHECK(std::memcmp(whole.pixels.data(), first.pixels.data() + 100 * 784, 784) == 0);
  CHECK(whole.labels[299] == first.labels[399]);
  CHECK(load_data(model.graph, "train", kData, 120).count == 120);  // --limit trims the slice

  const std::vector<EpochReport> reports = train_slice(model, 0);
  REQUIRE(reports.size() == 3);
  CHECK(reports[0].train.samples == 300);
  CHECK_FALSE(reports[0].eval("test"));
  REQUIRE(reports[1].eval("test"));
  CHECK(reports[1].eval("test")->samples == 200);
  CHECK(reports[2].eval("test"));  // the last epoch is always tested
}
