// Data bindings through the runtime: --limit reaches checkpoints (a resume without it is refused), a changed
// subset is refused by --resume, and standardize's statistics come from the training data, are stored in the
// checkpoint and are applied unchanged by a model that loads it. Uses a small CSV written here, no downloads.
#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "mnist_fixture.h"
#include "runtime/checkpoint.h"

using namespace hg;

namespace {

// 200 rows of 4 features (feature j around 10 * j, so standardizing matters) and a label 0..3.
std::string write_table() {
  const std::string folder = test::scratch_path("data_binding");
  std::filesystem::create_directories(folder);
  std::ofstream out(folder + "/table.csv");
  out << "a,b,c,d,label\n";
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0.0f, 1.0f);
  for (int i = 0; i < 200; ++i) {
    for (int j = 0; j < 4; ++j) out << 10 * j + (j + 1) * noise(rng) << ",";
    out << i % 4 << "\n";
  }
  return folder;
}

const char* kGraph =
    "data train = standardize(subset(split(csv(\"table.csv\", label=\"label\"), valid=0.25, seed=2, "
    "stratify=1),"
    " n=0, balanced=1, seed=4))\n"
    "data test = standardize(split(csv(\"table.csv\", label=\"label\"), valid=0.25, seed=2, stratify=1, "
    "part=\"valid\"))\n"
    "input x : [4] <- image\ncode = dense(x, 2) |> tanh\nrecon = dense(code, 4)\nloss = loss.mse(recon, x)\n"
    "train { optimizer = adam(lr=0.01) batch = 10 epochs = 2 seed = 1 }\n";

std::vector<float> test_values(const Dataset& data) {
  std::vector<float> out(static_cast<size_t>(data.count * data.features()));
  for (int64_t i = 0; i < data.count; ++i) data.copy_image(i, out.data() + i * data.features());
  return out;
}

std::string resume_error(const std::string& checkpoint, Model& model) {
  try {
    resume_checkpoint(checkpoint, model);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("data: --limit and subsets are recorded, and --resume refuses a run on other data") {
  const std::string folder = write_table();
  const std::string path = test::write_graph("data_binding.graph", kGraph);
  const std::string checkpoint = test::scratch_path("data_binding.safetensors");
  ModelOptions limited;
  limited.limit = 120;
  Model model(path, limited);
  TrainOptions options;
  options.data_dir = folder;
  train(model, options);
  save_checkpoint(checkpoint, model);
  CHECK(CheckpointFile(checkpoint).metadata("train_slice") ==
        "csv(\"table.csv\", label=\"label\", skip=0, count=120) |> split(valid=0.25, seed=2, stratify=1, "
        "part=\"train\") |> subset(n=0, balanced=1, seed=4) |> standardize()");

  Model unlimited(path, {});  // the bug this guards: a run trained with --limit resumed on all the data
  CHECK(resume_error(checkpoint, unlimited).find("count=0") != std::string::npos);
  ModelOptions reseeded = limited;
  reseeded.settings = {"data.train.subset.seed=5"};
  Model other_subset(path, reseeded);
  CHECK(resume_error(checkpoint, other_subset).find("subset(n=0, balanced=1, seed=5)") != std::string::npos);
  Model same(path, limited);
  CHECK(resume_error(checkpoint, same) == "(no error)");
}

TEST_CASE("data: standardize statistics come from the training part and travel in the checkpoint") {
  const std::string folder = write_table();
  const std::string path = test::write_graph("data_transform.graph", kGraph);
  const std::string checkpoint = test::scratch_path("data_transform.safetensors");
  Model model(path, {});
  TrainOptions options;
  options.data_dir = folder;
  train(model, options);
  save_checkpoint(checkpoint, model);
  const Dataset trained_on = load_data(model.graph, "train", folder, 0);
  // the training part, standardized with its own statistics: mean 0 and variance 1 per feature
  std::vector<double> sum(4, 0.0), sum_sq(4, 0.0);
  for (int64_t i = 0; i < trained_on.count; ++i) {
    float row[4];
    trained_on.copy_image(i, row);
    for (int j = 0; j < 4; ++j) {
      sum[size_t(j)] += row[j];
      sum_sq[size_t(j)] += double(row[j]) * row[j];
    }
  }
  for (int j = 0; j < 4; ++j) {
    CHECK(sum[size_t(j)] / double(trained_on.count) == doctest::Approx(0).epsilon(1e-4).scale(1));
    CHECK(sum_sq[size_t(j)] / double(trained_on.count) == doctest::Approx(1).epsilon(1e-3));
  }
  // a fresh model that loads the checkpoint sees the test data exactly as the trained one did
  Model loaded(path, {});
  CHECK(loaded.graph.binding("test")->offset.empty());
  load_checkpoint(checkpoint, loaded);
  CHECK(loaded.graph.binding("test")->offset == model.graph.binding("train")->offset);
  const Dataset a = load_data(model.graph, "test", folder, 0), b = load_data(loaded.graph, "test", folder, 0);
  CHECK(test_values(a) == test_values(b));
  CHECK(evaluate(loaded, b, 10).loss == evaluate(model, a, 10).loss);
}
