// The processes of a data-parallel run (`mpirun -np N hourglass train`, docs/scaling.md): each computes the
// gradient of its shard of every global batch, the gradients are summed across processes, and every process
// applies the same update. This header is the engine's only view of it; MPI itself lives in
// runtime/distributed/mpi.cpp, and a build without MPI links runtime/distributed/single.cpp, whose group is
// this process alone. So nothing else in the engine depends on whether MPI was built.
//
// Every wait on another process has a deadline (HOURGLASS_MPI_TIMEOUT seconds, default 120): a rank that
// hangs makes the others stop with an error naming the wait instead of blocking forever. A rank that dies
// ends the job through mpirun, which then stops the others.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hg {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  bool leader() const { return rank() == 0; }  // writes checkpoints, metrics and progress

  // Sums of `count` values in place across the group. Every rank must start the same sums in the same
  // order; MPI reduces each element in an order fixed by the rank count, so sums reproduce bit for bit.
  // start_sum returns at once; progress lets started sums advance (MPI moves non-blocking collectives only
  // inside MPI calls); finish_sums waits for all of them, the gradient sums of training step `step` (a
  // timeout's error names it; nothing is formatted otherwise, so a training step allocates nothing).
  // `what` names a blocking sum in a timeout's error.
  virtual void start_sum(float* data, int64_t count) = 0;
  virtual void progress() = 0;
  virtual void finish_sums(int64_t step) = 0;
  virtual void sum(double* data, int64_t count, const std::string& what) = 0;  // blocking
  virtual void sum(float* data, int64_t count, const std::string& what) = 0;   // blocking
  // Every rank's `value`, indexed by rank.
  virtual std::vector<uint64_t> gather(uint64_t value, const std::string& what) = 0;
  // The largest `status` of all ranks, waiting without a deadline: the other ranks wait here while rank 0
  // alone runs a pipeline stage of unknown length (an evaluation, an export).
  virtual int agree(int status) = 0;

  // Seconds spent inside MPI since the last call: waiting in finish_sums, sum, gather and agree, and the
  // work MPI does in start_sum and progress. The communication that computation did not hide.
  virtual double take_mpi_seconds() = 0;
};

// A group of one process: every sum and gather is the identity, and nothing waits.
class SoloGroup : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void start_sum(float*, int64_t) override {}
  void progress() override {}
  void finish_sums(int64_t) override {}
  void sum(double*, int64_t, const std::string&) override {}
  void sum(float*, int64_t, const std::string&) override {}
  std::vector<uint64_t> gather(uint64_t value, const std::string&) override { return {value}; }
  int agree(int status) override { return status; }
  double take_mpi_seconds() override { return 0; }
};

// This process's group: the MPI world of the job that started it (after init_process_group), or a group of
// one.
ProcessGroup& process_group();

// Joins the MPI job this process was started in, if any (mpirun sets OMPI_COMM_WORLD_SIZE, other launchers
// PMI_SIZE); MPI is initialized only for jobs of more than one process. Throws an hg::Error when a build
// without MPI is started as one process of several, saying how to get MPI. The runner calls it once, at the
// start of main.
void init_process_group();
// Ends the job: with MPI, every rank (MPI_Abort), so that no rank waits for one that has given up.
[[noreturn]] void abort_process_group(int code);
// Leaves the MPI job cleanly before a normal exit; nothing without MPI.
void finish_process_group();

// The size of the job that started this process, from the launcher's environment (1 when not started by
// one): what a build without MPI checks, and what the runner's other verbs refuse.
int launched_processes();

// A 64-bit hash (FNV-1a) of `count` floats' bytes: per epoch, every rank's weights are compared by it.
uint64_t hash_floats(const float* data, int64_t count);

}  // namespace hg
