// --resume continues bit-identically: 3 epochs straight, and the same run stopped after epoch 1's checkpoint
// and resumed in a fresh model for 2 more, end with the same bytes in every parameter and optimizer state,
// for Adam, SGD with momentum, a masking corruption (whose seeds follow the step) and batchnorm (whose
// running statistics are restored as well). Resuming a different run is refused, naming both sides.
#include <doctest/doctest.h>

#include <cstring>

#include "mnist_fixture.h"
#include "runtime/checkpoint.h"
#include "runtime/transfer.h"
#include "test_skip.h"

using namespace hg;
using hg::test::kMnistData;

namespace {

const int64_t kSamples = 600;

std::string graph_with(const std::string& body, const std::string& train) {
  return std::string(kMnistData) + "input x : [784] <- image\n" + body + "train { " + train +
         " batch = 50 epochs = 3 seed = 5 }\n";
}

const char* kPlainAutoencoder =
    "code = dense(x, 24) |> sigmoid\nrecon = dense(code, 784) |> sigmoid\nloss = loss.bce(recon, x)\n";

bool same_arena(ParameterStore& a, ParameterStore& b, float* (ParameterStore::*arena)()) {
  return std::memcmp((a.*arena)(), (b.*arena)(), sizeof(float) * size_t(a.total())) == 0;
}

bool same_state(ParameterStore& a, ParameterStore& b, int which) {
  return std::memcmp(a.state(which), b.state(which), sizeof(float) * size_t(a.total())) == 0;
}

// Trains `text` for 3 epochs straight, and for 1 epoch, checkpointed, resumed in a new model for 2 more.
void check_resume_is_exact(const std::string& name, const std::string& text) {
  if (!test::have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = test::write_graph(name + ".graph", text);
  const std::string checkpoint = test::scratch_path(name + ".safetensors");
  Model straight(path, {});
  REQUIRE(test::train_slice(straight, kSamples).size() == 3);

  // The same run, checkpointed after epoch 1 and then stopped as if killed: same settings throughout, so a
  // schedule that spans all the epochs is the same curve.
  Model interrupted(path, {});
  struct Stop {};
  TrainOptions options;
  options.data_dir = test::kData;
  options.limit = kSamples;
  options.on_epoch = [&](const EpochReport&) {
    save_checkpoint(checkpoint, interrupted);
    throw Stop{};
  };
  CHECK_THROWS_AS(train(interrupted, options), Stop);

  Model resumed(path, {});
  CHECK(resume_checkpoint(checkpoint, resumed).empty());
  CHECK(resumed.epoch == 1);
  CHECK(resumed.parameters.step == kSamples / 50);
  const std::vector<EpochReport> reports = test::train_slice(resumed, kSamples);
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].epoch == 2);
  CHECK(resumed.parameters.step == straight.parameters.step);
  CHECK(same_arena(straight.parameters, resumed.parameters, &ParameterStore::values));
  REQUIRE(resumed.parameters.states() == straight.parameters.states());
  for (int which = 0; which < straight.parameters.states(); ++which)
    CHECK(same_state(straight.parameters, resumed.parameters, which));
}

}  // namespace

TEST_CASE("an Adam run interrupted after epoch 1 and resumed ends bit-identical to an uninterrupted one") {
  check_resume_is_exact("resume_adam", graph_with(kPlainAutoencoder, "optimizer = adam(lr=0.003)"));
}

TEST_CASE("an SGD-with-momentum run resumes bit-identically") {
  check_resume_is_exact("resume_sgd", graph_with(kPlainAutoencoder, "optimizer = sgd(lr=0.5, momentum=0.9)"));
}

TEST_CASE("a denoising run resumes bit-identically: the corruption seeds follow the restored step") {
  check_resume_is_exact(
      "resume_masking",
      graph_with("noisy = corrupt.masking(x, rate=0.3)\ncode = dense(noisy, 24) |> sigmoid\n"
                 "recon = dense(code, 784) |> sigmoid\nloss = loss.bce(recon, x)\n",
                 "optimizer = sgd(lr=0.5, momentum=0.5)"));
}

TEST_CASE(
    "a run with a cosine schedule resumes bit-identically: the learning rate follows the restored step") {
  check_resume_is_exact(
      "resume_cosine",
      graph_with(kPlainAutoencoder, "optimizer = sgd(lr=0.5, momentum=0.9) schedule = cosine"));
}

TEST_CASE("a step schedule halves the learning rate each epoch, and the reports and checkpoint say so") {
  if (!test::have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string train = "optimizer = sgd(lr=0.5, momentum=0.9)";
  Model constant(test::write_graph("schedule_constant.graph", graph_with(kPlainAutoencoder, train)), {});
  Model halving(test::write_graph("schedule_step.graph",
                                  graph_with(kPlainAutoencoder, train + " schedule = step(factor=0.5)")),
                {});
  const std::vector<EpochReport> constant_reports = test::train_slice(constant, kSamples);
  const std::vector<EpochReport> reports = test::train_slice(halving, kSamples);
  REQUIRE(reports.size() == 3);
  CHECK(constant_reports[2].learning_rate == 0.5);
  CHECK(reports[0].learning_rate == 0.5);
  CHECK(reports[1].learning_rate == 0.25);
  CHECK(reports[2].learning_rate == 0.125);
  CHECK(reports[0].train.loss == constant_reports[0].train.loss);  // epoch 1 runs at the same lr
  CHECK(reports[2].train.loss != constant_reports[2].train.loss);
  const std::string checkpoint = test::scratch_path("schedule_step.safetensors");
  save_checkpoint(checkpoint, halving);
  CHECK(CheckpointFile(checkpoint).metadata("schedule") == "step(every=1, factor=0.5)");
}

TEST_CASE("the exactness needs the restored optimizer state: weights alone drift") {
  if (!test::have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = test::write_graph("resume_weights_only.graph",
                                             graph_with(kPlainAutoencoder, "optimizer = adam(lr=0.003)"));
  const std::string checkpoint = test::scratch_path("resume_weights_only.safetensors");
  Model straight(path, {}), interrupted(path, ModelOptions{{}, {"epochs=1"}}), weights_only(path, {});
  test::train_slice(straight, kSamples);
  test::train_slice(interrupted, kSamples);
  save_checkpoint(checkpoint, interrupted);
  load_checkpoint(checkpoint, weights_only);  // parameters only, as eval does
  weights_only.epoch = 1;
  test::train_slice(weights_only, kSamples);
  CHECK_FALSE(same_arena(straight.parameters, weights_only.parameters, &ParameterStore::values));
}

TEST_CASE("a resumed run must be the same graph file, seed, batch, data slice, optimizer and frozen set") {
  const std::string text = graph_with(kPlainAutoencoder, "optimizer = adam(lr=0.003)");
  const std::string path = test::write_graph("resume_same.graph", text);
  const std::string checkpoint = test::scratch_path("resume_same.safetensors");
  Model original(path, {});
  save_checkpoint(checkpoint, original);
  auto error_of = [&](Model& model) {
    try {
      resume_checkpoint(checkpoint, model);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };

  const std::string other_path = test::write_graph("resume_other.graph", text + "# an edit\n");
  Model other(other_path, {});
  std::string message = error_of(other);
  CHECK(message.find(checkpoint + ": error: was written by graph '" + path + "' with hash " +
                     original.graph.source_hash + ", but '" + other_path + "' has hash " +
                     other.graph.source_hash) == 0);

  Model reseeded(path, ModelOptions{{}, {"seed=6"}});
  CHECK(error_of(reseeded).find(
            "the checkpoint's run used seed '5', this one '6': a resumed run must keep it") !=
        std::string::npos);
  Model rebatched(path, ModelOptions{{}, {"batch=20"}});
  CHECK(error_of(rebatched).find("used batch '50', this one '20'") != std::string::npos);
  Model sliced(path, ModelOptions{{}, {"data.train.count=100"}});
  CHECK(error_of(sliced).find("used training data slice 'skip=0 count=0', this one 'skip=0 count=100'") !=
        std::string::npos);
  Model frozen(path, ModelOptions{{}, {}, {"code.*"}});
  CHECK(error_of(frozen).find("used frozen parameters '', this one 'code.weights,code.bias'") !=
        std::string::npos);

  Model faster(path, ModelOptions{{}, {"lr=0.01"}});
  const std::vector<std::string> notes = resume_checkpoint(checkpoint, faster);
  REQUIRE(notes.size() == 1);
  CHECK(notes[0] ==
        "optimizer.learning_rate was 0.003 and is now 0.01: the run will not match an uninterrupted one");
}

TEST_CASE("--freeze globs freeze like the graph's freeze, and one that matches nothing is an error") {
  const std::string path =
      test::write_graph("freeze_option.graph", graph_with(kPlainAutoencoder, "optimizer = adam(lr=0.003)"));
  Model model(path, ModelOptions{{}, {}, {"code.*"}});
  CHECK_FALSE(model.parameters.slot("code.weights")->trainable);
  CHECK_FALSE(model.parameters.slot("code.bias")->trainable);
  CHECK(model.parameters.slot("recon.weights")->trainable);
  CHECK(model.graph.parameter_gradient.count(model.graph.find("code.weights")) == 0);  // no gradient computed
  try {
    Model bad(path, ModelOptions{{}, {}, {"cod.*"}});
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "--freeze 'cod.*': error: 'cod.*' matches no parameter of " + path +
              " (did you mean 'code.*'?); parameters are named like 'code.weights' and "
              "'code.bias'");
  }
}

// Batchnorm's running statistics are buffers: saved next to the parameters under NAME.running_mean and
// NAME.running_var, restored bit for bit by --resume and --init, and moved by training alone.
TEST_CASE("a batchnorm run resumes bit-identically, running statistics included, and --init restores them") {
  const std::string text = graph_with(
      "h = dense(x, 24)\nn = batchnorm(h) |> sigmoid\nrecon = dense(n, 784) |> sigmoid\n"
      "loss = loss.bce(recon, x)\n",
      "optimizer = adam(lr=0.003)");
  check_resume_is_exact("resume_batchnorm", text);

  const std::string path = test::write_graph("init_batchnorm.graph", text);
  const std::string checkpoint = test::scratch_path("init_batchnorm.safetensors");
  Model trained(path, {});
  REQUIRE(test::train_slice(trained, kSamples).size() == 3);
  const ParameterSlot* var = trained.parameters.slot("n.running_var");
  REQUIRE(var != nullptr);
  CHECK(trained.parameters.values()[var->offset] != 1.0f);  // moved away from its initial 1
  save_checkpoint(checkpoint, trained);
  CheckpointFile file(checkpoint);
  CHECK(file.metadata("frozen").empty());  // buffers are not frozen parameters

  Model initialized(path, {});
  initialize_from(checkpoint, initialized, {});
  CHECK(same_arena(trained.parameters, initialized.parameters, &ParameterStore::values));
}

TEST_CASE("resuming with other epochs under a cosine schedule warns how the learning rate moves") {
  const std::string body = "input x : [4] <- image\nr = dense(x, 4)\nloss = loss.mse(r, x)\n";
  auto model_with = [&](const std::string& name, const std::string& train) {
    Model m(test::write_graph(name, body + "train { " + train + " }\n"), {});
    m.epoch = 2;  // as resume_checkpoint leaves it: after epoch 2, 3 steps per epoch
    m.parameters.step = 6;
    return m;
  };
  const std::string cosine = "optimizer = sgd(lr=0.1) schedule = cosine(min=0.001) batch = 2";
  Model longer = model_with("stretch_longer.graph", cosine + " epochs = 4");
  // The checkpoint's 2-epoch curve had reached its min; the 4-epoch curve is half way down.
  CHECK(schedule_stretch_warning({{"epochs", "2"}}, longer) ==
        "the checkpoint's run planned 2 epochs and this one 4 epochs, and the cosine schedule spans a run's "
        "epochs: at the resume point (after epoch 2, step 6) the learning rate jumps back up from 0.001 to "
        "0.0505, and then falls to 0.001 by epoch 4 instead of following the checkpoint's curve");
  // An interrupted 10-epoch run resumed as a 4-epoch one: its rate drops early.
  const std::string shorter = schedule_stretch_warning({{"epochs", "10"}}, longer);
  CHECK(shorter.find("planned 10 epochs and this one 4 epochs") != std::string::npos);
  CHECK(shorter.find("the learning rate drops from 0.09055 to 0.0505") != std::string::npos);
  CHECK(shorter.find("(--set epochs=10 keeps to it)") != std::string::npos);
  CHECK(schedule_stretch_warning({{"epochs", "4"}}, longer).empty());  // the same curve
  CHECK(schedule_stretch_warning({}, longer).empty());                 // a file without `epochs`
  CHECK(schedule_stretch_warning({{"epochs", "many"}}, longer).empty());
  Model done = model_with("stretch_done.graph", cosine + " epochs = 2");
  CHECK(schedule_stretch_warning({{"epochs", "10"}}, done).empty());  // nothing left to train
  Model constant = model_with("stretch_constant.graph", "optimizer = sgd(lr=0.1) batch = 2 epochs = 4");
  CHECK(schedule_stretch_warning({{"epochs", "2"}}, constant).empty());
  Model step =
      model_with("stretch_step.graph", "optimizer = sgd(lr=0.1) schedule = step(factor=0.5) epochs = 4");
  CHECK(schedule_stretch_warning({{"epochs", "2"}}, step).empty());  // a function of the epoch alone
}
