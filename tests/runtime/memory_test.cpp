// The memory budget in a whole run: the model reserves its parameters, the data sets and plans theirs, all of
// it is given back when they go, and each refusal names the place that decided the size: the largest
// parameter's graph line, the data file (with the graph line that reads it), a checkpoint's file.
#include <doctest/doctest.h>

#include <functional>

#include "max_memory_guard.h"
#include "mnist_fixture.h"
#include "runtime/checkpoint.h"
#include "test_skip.h"

using namespace hg;

namespace {

std::string error_of(const std::function<void()>& work) {
  try {
    work();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

const char* kWide =
    "input x : [784] <- image\ncode = dense(x, 512) |> relu\nr = dense(code, 784)\n"
    "loss = loss.mse(r, x)\ntrain { optimizer = adam(lr=0.001) batch = 50 epochs = 1 }\n";

}  // namespace

TEST_CASE(
    "a model reserves its parameters, gradients and optimizer state, refused at the largest parameter") {
  const std::string path = test::write_graph("memory_wide.graph", kWide);
  const double bytes = (784.0 * 512 + 512 + 512 * 784 + 784) * 4 * 4;  // values, gradients, Adam's two
  {
    test::MaxMemory budget("4M");
    CHECK(error_of([&] { Model m(path, {}); }) ==
          path + ":2:8: error: the parameters with their gradients and adam's 2 states need " +
              memory_size_text(bytes) +
              ", more than the memory budget of 4.0 MiB (--max-memory 4M); the largest, 'code.weights' [512, "
              "784], holds 401408 values");
    CHECK(memory_held() == 0);
  }
  test::MaxMemory budget("32M");
  Model m(path, {});
  CHECK(m.parameter_memory.bytes() == uint64_t(bytes));
  ModelOptions estimate_only;
  estimate_only.allocate_parameters = false;  // `check`: nothing allocated, nothing reserved
  Model graph_only(path, estimate_only);
  CHECK(graph_only.parameters.total() == 0);
  CHECK(memory_held() == uint64_t(bytes));
  // Training in bf16 keeps a 2-byte copy of every value besides the f32 ones.
  std::string bf16_text = kWide;
  bf16_text.replace(bf16_text.find("epochs = 1"), 10, "epochs = 1 precision = bf16");
  Model bf16(test::write_graph("memory_wide_bf16.graph", bf16_text), {});
  CHECK(bf16.parameter_memory.bytes() == uint64_t(bytes / 16 * 18));
}

TEST_CASE("a data set over the budget is refused at its file, with a note at the graph line that reads it") {
  if (!test::have_mnist()) return test::skip_test("MNIST is not fetched: run scripts/fetch-data.sh");
  const std::string path = test::write_graph(
      "memory_data.graph", std::string(test::kMnistData) +
                               "input x : [784] <- image\ncode = dense(x, 32) |> relu\nr = dense(code, 784)\n"
                               "loss = loss.mse(r, x)\ntrain { batch = 50 epochs = 1 }\n");
  Model m(path, {});
  test::MaxMemory budget("10M");
  const std::string error = error_of([&] { load_data(m.graph, "train", test::kData, 0); });
  CHECK(error ==
        test::kData +
            "/mnist/train-images-idx3-ubyte: error: loading 60000 samples of 28 x 28 bytes, with their "
            "labels, needs 45.1 MiB, more than the " +
            memory_size_text(10 * 1024 * 1024 - double(m.parameter_memory.bytes())) +
            " left of the memory budget of 10.0 MiB (--max-memory 10M) after the " +
            memory_size_text(double(m.parameter_memory.bytes())) + " already held\n" + path +
            ":1:6: note: data 'train' reads it here; --limit N or --set data.train.count=N reads fewer "
            "samples");
  // A slice that fits trains, and everything but the model's parameters is given back afterwards.
  REQUIRE(test::train_slice(m, 600).size() == 1);
  CHECK(memory_held() == m.parameter_memory.bytes());
}

TEST_CASE("a checkpoint's header is checked against the budget before it is read") {
  const std::string checkpoint = test::scratch_path("memory_checkpoint.safetensors");
  {
    Model m(test::write_graph("memory_checkpoint.graph", kWide), {});
    save_checkpoint(checkpoint, m);
  }
  test::MaxMemory budget("1K");
  const std::string error = error_of([&] { CheckpointFile file(checkpoint); });
  CHECK(error.rfind(checkpoint + ": error: reading its ", 0) == 0);
  CHECK(error.find("-byte header needs ") != std::string::npos);
  CHECK(error.find("more than the memory budget of 1.0 KiB (--max-memory 1K); the text and its parsed JSON "
                   "are held at once") != std::string::npos);
}
