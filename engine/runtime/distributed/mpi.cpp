// The MPI module (lib/hourglass/hourglass_mpi.so): the process group of an MPI job, loaded only by a runner
// that mpirun started as one of several processes (runtime/distributed/module.cpp), so that other runs do not
// load Open MPI and the eight libraries behind it. Every collective is non-blocking and completed by a test
// loop with a deadline (HOURGLASS_MPI_TIMEOUT seconds), so that a rank that hangs turns into an error on the
// others instead of a job that never ends. All calls come from one thread at a time: the training loop and
// the executor's flow graph, which runs in an arena of concurrency 1 (docs/threading.md).
#include <mpi.h>
#include <time.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>

#include "runtime/distributed.h"
#include "support/diagnostics.h"

namespace hg {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double collective_timeout() {
  const char* text = std::getenv("HOURGLASS_MPI_TIMEOUT");
  if (!text) return 120;
  char* end = nullptr;
  const double seconds = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(seconds > 0))
    throw Error({"HOURGLASS_MPI_TIMEOUT", 0, 0},
                std::string("HOURGLASS_MPI_TIMEOUT is '") + text +
                    "'; it must be a positive number of seconds (the longest wait for another rank)");
  return seconds;
}

int checked_count(int64_t count) {
  if (count > INT_MAX)
    throw Error({"mpi", 0, 0}, "a sum of " + std::to_string(count) + " values is more than MPI's int count");
  return int(count);
}

class MpiGroup : public ProcessGroup {
 public:
  MpiGroup() : timeout_(collective_timeout()) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void start_sum(float* data, int64_t count) override {
    const Clock::time_point start = Clock::now();
    pending_.emplace_back();
    MPI_Iallreduce(MPI_IN_PLACE, data, checked_count(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                   &pending_.back());
    inside_ += seconds_since(start);
  }
  // Libnbc does a sum's work (copies through shared memory, the additions) inside these tests, on the
  // calling thread, so their time is communication too.
  void progress() override {
    if (pending_.empty()) return;
    const Clock::time_point start = Clock::now();
    int done = 0;
    MPI_Testall(int(pending_.size()), pending_.data(), &done, MPI_STATUSES_IGNORE);
    inside_ += seconds_since(start);
  }
  void finish_sums(int64_t step) override {
    wait(
        pending_, [&] { return "the gradient sums of training step " + std::to_string(step); }, true);
    pending_.clear();
  }
  void sum(double* data, int64_t count, const std::string& what) override {
    std::vector<MPI_Request> request(1);
    MPI_Iallreduce(MPI_IN_PLACE, data, checked_count(count), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD,
                   &request[0]);
    wait(
        request, [&] { return what; }, true);
  }
  void sum(float* data, int64_t count, const std::string& what) override {
    std::vector<MPI_Request> request(1);
    MPI_Iallreduce(MPI_IN_PLACE, data, checked_count(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request[0]);
    wait(
        request, [&] { return what; }, true);
  }
  std::vector<uint64_t> gather(uint64_t value, const std::string& what) override {
    std::vector<uint64_t> values(size_t(size_), 0);
    std::vector<MPI_Request> request(1);
    MPI_Iallgather(&value, 1, MPI_UINT64_T, values.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD, &request[0]);
    wait(
        request, [&] { return what; }, true);
    return values;
  }
  int agree(int status) override {
    std::vector<MPI_Request> request(1);
    MPI_Iallreduce(MPI_IN_PLACE, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD, &request[0]);
    wait(
        request, [] { return std::string("a pipeline stage"); }, false);
    return status;
  }
  double take_mpi_seconds() override {
    const double seconds = inside_;
    inside_ = 0;
    return seconds;
  }

 private:
  // Tests until every request is complete. MPI moves a non-blocking sum one round further per test, so the
  // first 5 ms spin (a step's sums land within that); after that the rank sleeps 50 µs between tests, so
  // that a rank waiting long for a slower one does not hold a core that rank's threads may need.
  void wait(std::vector<MPI_Request>& requests, const std::function<std::string()>& what, bool deadline) {
    const Clock::time_point start = Clock::now();
    for (;;) {
      int done = 0;
      MPI_Testall(int(requests.size()), requests.data(), &done, MPI_STATUSES_IGNORE);
      if (done) break;
      const double waited = seconds_since(start);
      if (deadline && waited > timeout_) {
        char text[160];
        std::snprintf(text, sizeof text, "rank %d of %d waited %.0f s for the other ranks in %s", rank_,
                      size_, waited, what().c_str());
        throw Error({"mpi", 0, 0}, std::string(text) +
                                       ": another rank hung or died, so the run stops (the last checkpoint "
                                       "is intact; HOURGLASS_MPI_TIMEOUT sets the wait)");
      }
      if (waited > 5e-3) {
        const timespec pause{0, 50000};
        nanosleep(&pause, nullptr);
      }
    }
    inside_ += seconds_since(start);
  }

  int rank_ = 0, size_ = 1;
  double timeout_;
  std::vector<MPI_Request> pending_;
  double inside_ = 0;
};

std::unique_ptr<MpiGroup> world;

}  // namespace
}  // namespace hg

#define HG_MODULE_ENTRY extern "C" __attribute__((visibility("default")))

// Joins the job (init_process_group, loaded by runtime/distributed/module.cpp): MPI starts here.
HG_MODULE_ENTRY hg::ProcessGroup* hourglass_mpi_init() {
  using namespace hg;
  if (world) return world.get();
  collective_timeout();  // a bad value is an error before MPI starts
  // Open MPI's non-blocking allreduce (libnbc) picks, for two processes and megabytes, an algorithm that
  // took 7-14 ms per 3 MB sum on a 2-core VM where the ring took 2 ms (docs/scaling.md). The ring also
  // reduces each element in an order fixed by the rank count, which reproducible sums need. A value the
  // user set wins.
  setenv("OMPI_MCA_coll_libnbc_iallreduce_algorithm", "1", 0);
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    throw Error({"mpi", 0, 0},
                "this MPI library does not support calls from more than one thread "
                "(MPI_THREAD_SERIALIZED), which the training loop needs");
  }
  world = std::make_unique<MpiGroup>();
  return world.get();
}

// Ends every rank of the job (abort_process_group).
HG_MODULE_ENTRY void hourglass_mpi_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
}

// Leaves the job cleanly (finish_process_group).
HG_MODULE_ENTRY void hourglass_mpi_finish() {
  hg::world.reset();
  MPI_Finalize();
}
