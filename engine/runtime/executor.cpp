// The flow graph behind Executor.
#include "runtime/executor.h"

#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>

#include <chrono>

#include "kernels/threading.h"
#include "support/diagnostics.h"

namespace hg {

struct Executor::Impl {
  explicit Impl(int concurrency) : arena(concurrency, 1) {}
  tbb::task_arena arena;
  std::unique_ptr<tbb::flow::graph> graph;
  std::unique_ptr<tbb::flow::broadcast_node<tbb::flow::continue_msg>> start;
  std::vector<std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
  std::vector<StepTime> times;  // when timed; steps then run one at a time (arena of concurrency 1)
  bool first_run = true;
};

Executor::Executor(Plan& plan, bool timed, StepObserver* observer, int concurrency)
    : impl_(std::make_unique<Impl>(concurrency)) {
  HG_ASSERT(concurrency >= 1, "executor concurrency must be positive");
  HG_ASSERT(concurrency == 1 || (!timed && !observer), "timing and observers need one step at a time");
  impl_->arena.execute([&] {
    using namespace tbb::flow;
    impl_->graph = std::make_unique<graph>();
    impl_->start = std::make_unique<broadcast_node<continue_msg>>(*impl_->graph);
    const std::vector<PlanStep>& steps = plan.steps();
    if (timed)
      for (const PlanStep& step : steps) impl_->times.push_back({step.node, step.label, 0, 0});
    for (size_t s = 0; s < steps.size(); ++s) {
      const std::function<void()>* run = &steps[s].run;
      if (!timed && !observer) {
        // On a TBB worker (concurrency > 1) the step's OpenMP team first gets the math thread count.
        const bool worker = concurrency > 1;
        impl_->nodes.push_back(
            std::make_unique<continue_node<continue_msg>>(*impl_->graph, [run, worker](const continue_msg&) {
              if (worker) use_math_threads_here();
              (*run)();
            }));
        continue;
      }
      Impl* impl = impl_.get();
      impl_->nodes.push_back(std::make_unique<continue_node<continue_msg>>(
          *impl_->graph, [run, impl, s, timed, observer](const continue_msg&) {
            if (observer) observer->before(s);
            const auto begin = std::chrono::steady_clock::now();
            (*run)();
            if (timed && !impl->first_run) {
              impl->times[s].seconds +=
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
              ++impl->times[s].runs;
            }
            if (observer) observer->after(s);
          }));
    }
    for (size_t s = 0; s < steps.size(); ++s) {
      if (steps[s].after.empty()) make_edge(*impl_->start, *impl_->nodes[s]);
      for (size_t before : steps[s].after) make_edge(*impl_->nodes[before], *impl_->nodes[s]);
    }
  });
}

Executor::~Executor() = default;

void Executor::run() {
  impl_->arena.execute([&] {
    impl_->start->try_put(tbb::flow::continue_msg());
    impl_->graph->wait_for_all();
  });
  impl_->first_run = false;
}

std::vector<StepTime> Executor::timings() const {
  return impl_->times;
}

}  // namespace hg
