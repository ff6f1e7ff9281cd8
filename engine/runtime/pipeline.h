// The data pipeline: each epoch a seeded shuffle of the sample order, then each batch gathered straight into
// the plan's input buffers (images converted there from their bytes to floats, labels one-hot) just before
// its step runs. Data streamed from a mapping larger than its residency budget (FileMapping) is shuffled
// block-locally instead, so that it is read from disk in long runs: the file's rows are cut into blocks of
// about 8 MB, the blocks are shuffled, and the samples are shuffled within each window of 4 consecutive
// blocks of that order; the kernel is asked to read the next window ahead (MADV_WILLNEED) while the current
// one trains. The gather runs on the calling thread: it costs well under a millisecond a batch, and
// overlapping it with compute would need a thread beyond the `--threads` budget; measured on 2 cores, a TBB
// worker beside oneDNN's 2-thread OpenMP team made epochs 2-5x slower (docs/threading.md).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "data/dataset.h"
#include "plan/plan.h"

namespace hg {

class DataPipeline {
 public:
  // Checks that every input fits the data (features, label range); errors point at the input statement.
  DataPipeline(const Graph& graph, const Dataset& data, int64_t batch, bool shuffle, uint64_t seed);

  int64_t full_batches() const { return data_.count / batch_; }
  int64_t tail() const { return data_.count % batch_; }  // rows in the last, partial batch
  void begin_epoch(int64_t epoch);                       // reshuffles (if enabled) for this epoch
  int64_t take(int64_t b, Plan& plan);  // fills the plan's inputs with (its shard of) batch b; its rows
  int64_t sample_index(int64_t position) const { return order_[size_t(position)]; }

 private:
  struct Feed {
    NodeId node;
    bool label;
    int64_t width;
  };
  int64_t rows_in(int64_t b) const;
  void shuffle_block_local(std::mt19937_64& rng);
  void read_ahead(size_t window) const;

  const Dataset& data_;
  int64_t batch_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<Feed> feeds_;
  std::vector<int64_t> order_;
  // Block-local shuffling (streamed data only; block_ 0 otherwise): samples per block, the blocks in this
  // epoch's order, and where in order_ each window of kWindow blocks starts.
  static constexpr int64_t kBlockBytes = int64_t(8) << 20;
  static constexpr size_t kWindow = 4;
  int64_t row_bytes_ = 0;  // one sample as stored
  int64_t block_ = 0;
  std::vector<int64_t> blocks_;
  std::vector<int64_t> window_start_;
  size_t read_ahead_ = SIZE_MAX;  // the window last read ahead
};

}  // namespace hg
