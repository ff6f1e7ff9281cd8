// The steady-state training step allocates nothing outside oneDNN and creates no oneDNN primitive. An
// executable of its own: it links the counting allocator (tests/counting_allocator.h), which replaces malloc
// for the whole process.
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "counting_allocator.h"
#include "graph_fixture.h"
#include "kernels/activation.h"
#include "kernels/dnnl_context.h"
#include "kernels/threading.h"
#include "plan/plan.h"
#include "runtime/executor.h"
#include "runtime/pipeline.h"
#include "test_skip.h"

namespace {

struct Counts {
  int64_t inside_dnnl = 0, outside_dnnl = 0, primitives = 0, minor_faults = 0;
};

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Counts what `body` allocates and creates.
template <class F>
Counts count_during(F&& body) {
  const int64_t primitives = hg::primitives_created();
  const long faults = minor_faults();
  const hg::test::AllocationCounts allocations = hg::test::count_allocations(body);
  return Counts{allocations.inside_dnnl, allocations.outside_dnnl, hg::primitives_created() - primitives,
                minor_faults() - faults};
}

// Synthetic MNIST-shaped data: `count` images of 784 random bytes scaled into [0, 1], and labels 0..9. The
// pipeline converts the bytes to floats inside the plan's input buffer, so that conversion is counted too.
hg::Dataset synthetic_data(int64_t count) {
  hg::Dataset data;
  data.count = count;
  data.item_dims = {28, 28};
  data.scale = 1.0f / 255;
  std::mt19937 rng(5);
  for (int64_t i = 0; i < count * 784; ++i) data.pixels.push_back(uint8_t(rng() % 256));
  for (int64_t i = 0; i < count; ++i) data.labels.push_back(int32_t(rng() % 10));
  data.num_classes = 10;
  return data;
}

// What train() does per batch, for `epochs` epochs of `batches` batches.
struct Trainer {
  hg::test::TestModel model;
  hg::Dataset data;
  hg::DataPipeline pipeline;
  hg::Plan plan;
  hg::Executor executor;
  int64_t epoch = 0;
  double loss_sum = 0;

  Trainer(const std::string& text, int64_t batch, int64_t batches)
      : model(hg::test::model_from_text(text)),
        data(synthetic_data(batch * batches)),
        pipeline(model.graph, data, batch, true, 1),
        plan(model.graph, *model.parameters, hg::test::builtin_plugins(), batch, hg::PlanMode::Train),
        executor(plan) {}

  void run_epochs(int64_t epochs) {
    for (int64_t e = 0; e < epochs; ++e) {
      pipeline.begin_epoch(++epoch);
      for (int64_t b = 0; b < pipeline.full_batches(); ++b) {
        pipeline.take(b, plan);
        plan.set_step_seed(1 * 0x9E3779B97F4A7C15ull + uint64_t(model.parameters->step));
        executor.run();
        loss_sum += plan.value(model.graph.objective);
      }
    }
  }
};

void check_steady_state(const std::string& text, int64_t batch) {
  hg::set_math_threads(2);  // the parallel paths of every kernel, as on the benchmark machine
  Trainer trainer(text, batch, 3);
  trainer.run_epochs(2);  // warm-up: first-touch of oneDNN's caches, TBB's task pools, libgomp's team
  const Counts counts = count_during([&] { trainer.run_epochs(3); });
  const int64_t steps = 3 * trainer.pipeline.full_batches();
  MESSAGE("over ", steps, " steady-state steps: ", counts.primitives, " primitives created, ",
          counts.minor_faults, " minor page faults");
  CHECK(std::isfinite(trainer.loss_sum));
  CHECK(counts.primitives == 0);
#if HG_COUNTING_ALLOCATOR
  REQUIRE_MESSAGE(hg::test::tbb_allocates_through_malloc(),
                  "TBB allocates through libtbbmalloc, out of the counting allocator's sight");
  MESSAGE(counts.outside_dnnl, " allocations outside oneDNN, ", counts.inside_dnnl,
          " inside oneDNN's primitive execution (", counts.inside_dnnl / steps, " a step)");
  if (counts.outside_dnnl != 0) hg::test::print_first_allocations(counts.outside_dnnl);
  CHECK(counts.outside_dnnl == 0);
#else
  hg::test::skip_test("built with AddressSanitizer, which owns malloc: allocations cannot be counted");
#endif
}

}  // namespace

#if HG_COUNTING_ALLOCATOR
TEST_CASE("the counting allocator sees allocations from every library, and oneDNN's as oneDNN's") {
  char* copy = nullptr;
  std::vector<int>* vector = nullptr;
  const Counts outside = count_during([&] {
    copy = strdup("libc allocates through malloc");  // malloc called from inside libc
    vector = new std::vector<int>(100);              // operator new in libstdc++, twice
  });
  std::free(copy);
  delete vector;
  CHECK(outside.outside_dnnl == 3);
  CHECK(outside.inside_dnnl == 0);

  // An eltwise primitive's execution allocates inside oneDNN (its argument map), never outside.
  hg::ActivationKernels sigmoid(hg::Activation::Sigmoid, 4, 8);
  float src[32] = {}, dst[32];
  sigmoid.forward(src, dst);
  const Counts inside = count_during([&] { sigmoid.forward(src, dst); });
  CHECK(inside.inside_dnnl > 0);
  CHECK(inside.outside_dnnl == 0);
}
#endif

TEST_CASE("a steady-state step of the 784-1000-784 autoencoder allocates nothing outside oneDNN") {
  check_steady_state(
      "input x : [784] <- image\n"
      "code  = dense(x, 1000) |> sigmoid\n"
      "recon = dense(code, 784) |> sigmoid\n"
      "loss = loss.bce(recon, x)\n"
      "train { optimizer = sgd(lr=0.1, momentum=0.9)  batch = 128 }\n",
      128);
}

TEST_CASE("a steady-state step with corruption, tied weights, regularizers and Adam allocates nothing") {
  check_steady_state(
      "input x : [784] <- image\n"
      "noisy = corrupt.masking(x, rate=0.3)\n"
      "code  = dense(noisy, 64) |> relu\n"
      "recon = dense(code, tied=code) |> sigmoid\n"
      "loss = loss.bce(recon, x, sum=1) + 1e-4 * reg.l2(code.weights) + 1e-3 * reg.l1(code)\n"
      "train { optimizer = adam(lr=0.001)  batch = 32 }\n",
      32);
}

TEST_CASE("a steady-state step of a classifier and of a convolutional autoencoder allocates nothing") {
  SUBCASE("classifier") {
    check_steady_state(
        "input x : [784] <- image\ninput y : [10] <- label\n"
        "h = dense(x, 64) |> tanh\nlogits = dense(h, 10)\n"
        "loss = loss.softmax_ce(logits, y)\n"
        "train { optimizer = sgd(lr=0.01)  batch = 16 }\n",
        16);
  }
  SUBCASE("convolutional") {
    check_steady_state(
        "input x : [1, 28, 28] <- image\n"
        "e = conv2d(x, 4, kernel=3, stride=2, pad=1) |> relu\n"
        "p = maxpool(e, kernel=2, stride=2)\n"
        "d = deconv2d(p, 4, kernel=4, stride=2, pad=1) |> relu\n"
        "recon = deconv2d(d, 1, kernel=4, stride=2, pad=1) |> sigmoid\n"
        "loss = loss.mse(recon, x)\n"
        "train { optimizer = adam(lr=0.002)  batch = 8 }\n",
        8);
  }
}
