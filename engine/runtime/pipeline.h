// The data pipeline: each epoch a seeded shuffle of the sample order, then batches gathered into staging
// buffers (images as they are, labels one-hot) one batch ahead of compute, and copied into the plan's input
// buffers when compute is ready for them. The gather runs on a TBB task beside compute only when a core is
// spare (math threads < cores): measured on 2 cores, a third busy thread beside oneDNN's 2-thread OpenMP
// team made epochs 2-4x slower, while the gather itself costs ~50 us a batch on the calling thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "data/dataset.h"
#include "plan/plan.h"

namespace hg {

class DataPipeline {
 public:
  // Checks that every input fits the data (features, label range); errors point at the input statement.
  DataPipeline(const Graph& graph, const Dataset& data, int64_t batch, bool shuffle, uint64_t seed);
  ~DataPipeline();

  int64_t full_batches() const { return data_.count / batch_; }
  int64_t tail() const { return data_.count % batch_; }  // rows in the last, partial batch
  void begin_epoch(int64_t epoch);                       // reshuffles (if enabled) and prefetches batch 0
  // Waits for batch b, copies it into the plan's inputs, starts gathering b+1; returns its row count.
  int64_t take(int64_t b, Plan& plan);
  int64_t sample_index(int64_t position) const { return order_[size_t(position)]; }

 private:
  struct Feed {
    NodeId node;
    bool label;
    int64_t width;
  };
  void gather(int64_t b, int slot);
  void wait_for_prefetch();
  int64_t rows_in(int64_t b) const;

  const Dataset& data_;
  int64_t batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<Feed> feeds_;
  std::vector<int64_t> order_;
  std::vector<std::vector<float>> staging_[2];  // per slot, per feed
  struct Async;
  std::unique_ptr<Async> async_;
  bool prefetch_on_spare_core_;
  int64_t pending_ = -1;  // batch being gathered into slot pending_ % 2
};

}  // namespace hg
