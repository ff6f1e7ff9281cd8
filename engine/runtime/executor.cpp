// The flow graph behind Executor.
#include "runtime/executor.h"

#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>

#include <chrono>

namespace hg {

struct Executor::Impl {
  tbb::task_arena arena{1, 1};
  std::unique_ptr<tbb::flow::graph> graph;
  std::unique_ptr<tbb::flow::broadcast_node<tbb::flow::continue_msg>> start;
  std::vector<std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
  std::vector<StepTime> times;  // when timed; steps run one at a time (arena of concurrency 1)
  bool first_run = true;
};

Executor::Executor(Plan& plan, bool timed, StepObserver* observer) : impl_(std::make_unique<Impl>()) {
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
        impl_->nodes.push_back(std::make_unique<continue_node<continue_msg>>(
            *impl_->graph, [run](const continue_msg&) { (*run)(); }));
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
