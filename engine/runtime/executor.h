// Runs a plan's steps on a TBB flow graph wired once (one continue_node per step, an edge per dependency),
// as in oneTBB's graph examples: each run is one try_put and a wait_for_all. An exception thrown by a step
// cancels the graph and resurfaces from run().
//
// Threading choice (measured, see docs/threading.md): oneDNN runs on OpenMP with the `--threads` count, and
// every hourglass kernel and plugin loop runs on that same OpenMP team. The flow graph runs in a TBB arena
// of concurrency 1, so only one step at a time calls oneDNN: a second concurrent caller would get its own
// OpenMP team and oversubscribe the cores. TBB's other job, the data pipeline, runs beside it.
#pragma once

#include <memory>

#include "plan/plan.h"

namespace hg {

class Executor {
 public:
  explicit Executor(Plan& plan);
  ~Executor();
  void run();  // one step of the plan

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg
