// Runs a plan's steps on a TBB flow graph wired once (one continue_node per step, an edge per dependency),
// as in oneTBB's graph examples: each run is one try_put and a wait_for_all. An exception thrown by a step
// cancels the graph and resurfaces from run().
//
// Threading choice (measured, see docs/threading.md): oneDNN runs on OpenMP with the `--threads` count, and
// every hourglass kernel and plugin loop runs on that same OpenMP team. By default the flow graph runs in a
// TBB arena of concurrency 1, so only one step at a time calls oneDNN: on the few cores this targets, a
// second concurrent step gets its own OpenMP team and oversubscribes the cores. A larger `concurrency` runs
// independent steps (a layer's backward-data and backward-weights GEMMs, parameter updates, a VAE's two
// heads) side by side, each on a team of `--threads`; any order the edges allow gives the same bits.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "plan/plan.h"

namespace hg {

// Wall time one plan step took, summed over the runs after the first (which includes one-time work such as
// oneDNN's kernel generation).
struct StepTime {
  NodeId node = kNoNode;
  std::string label;  // PlanStep::label
  double seconds = 0;
  int64_t runs = 0;
};

// Told about each step just before and just after it runs. Data-parallel training starts summing a
// gradient across processes as soon as the step that writes it has run, and waits for the sums just before
// the optimizer step, so that the sums travel while the rest of backward computes.
class StepObserver {
 public:
  virtual ~StepObserver() = default;
  virtual void before(size_t step) = 0;  // indices into the plan's steps
  virtual void after(size_t step) = 0;
};

class Executor {
 public:
  // `timed`: clock every step of every run (two clock reads per step) for timings(); an observer's calls
  // are not part of a step's time.
  explicit Executor(Plan& plan, bool timed = false, StepObserver* observer = nullptr, int concurrency = 1);
  ~Executor();
  void run();                             // one step of the plan
  std::vector<StepTime> timings() const;  // in the plan's order; empty unless timed

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hg
