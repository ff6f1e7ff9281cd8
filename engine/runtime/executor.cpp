// The flow graph behind Executor.
#include "runtime/executor.h"

#include <tbb/flow_graph.h>
#include <tbb/task_arena.h>

namespace hg {

struct Executor::Impl {
  tbb::task_arena arena{1, 1};
  std::unique_ptr<tbb::flow::graph> graph;
  std::unique_ptr<tbb::flow::broadcast_node<tbb::flow::continue_msg>> start;
  std::vector<std::unique_ptr<tbb::flow::continue_node<tbb::flow::continue_msg>>> nodes;
};

Executor::Executor(Plan& plan) : impl_(std::make_unique<Impl>()) {
  impl_->arena.execute([&] {
    using namespace tbb::flow;
    impl_->graph = std::make_unique<graph>();
    impl_->start = std::make_unique<broadcast_node<continue_msg>>(*impl_->graph);
    const std::vector<PlanStep>& steps = plan.steps();
    for (const PlanStep& step : steps) {
      const std::function<void()>* run = &step.run;
      impl_->nodes.push_back(std::make_unique<continue_node<continue_msg>>(
          *impl_->graph, [run](const continue_msg&) { (*run)(); }));
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
}

}  // namespace hg
