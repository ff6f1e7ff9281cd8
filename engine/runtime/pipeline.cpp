// Shuffling and gathering of batches.
#include "runtime/pipeline.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

#include <sys/mman.h>
#include <unistd.h>

namespace hg {

DataPipeline::DataPipeline(const Graph& graph, const Dataset& data, int64_t batch, bool shuffle,
                           uint64_t seed)
    : data_(data), batch_(batch), shuffle_(shuffle), seed_(seed) {
  for (NodeId id = 0; id < NodeId(graph.nodes.size()); ++id) {
    const Node& n = graph.node(id);
    if (!n.is(OpRole::Input)) continue;
    const bool label = n.attributes_as<InputAttributes>().source == "label";
    const int64_t width = n.elements_per_sample();
    if (label && data.labels.empty())
      throw Error(n.location, "input '" + n.name + "' reads labels, but the data has no label file");
    if (label && data.num_classes > width)
      throw Error(n.location, "input '" + n.name + "' has " + std::to_string(width) +
                                  " classes, but the labels go up to " +
                                  std::to_string(data.num_classes - 1));
    if (!label && width != data.features())
      throw Error(n.location, "input '" + n.name + "' is " + shape_string(n.dims) + " (" +
                                  std::to_string(width) + " features), but the images in " +
                                  data.images_path + " have " + std::to_string(data.features()));
    feeds_.push_back({id, label, width});
  }
  if (data.count < batch && data.count > 0 && shuffle)
    throw Error(graph.train.location, "batch " + std::to_string(batch) + " is larger than the " +
                                          std::to_string(data.count) + " samples of the data");
  order_.resize(size_t(data.count));
  std::iota(order_.begin(), order_.end(), 0);
  row_bytes_ = data.features() * dtype_bytes(data.dtype);
  if (shuffle && data.mapped && data.mapping && data.mapping->size() > FileMapping::kResidentBudget &&
      data.rows.empty() && row_bytes_ > 0)
    block_ = std::max<int64_t>(1, kBlockBytes / row_bytes_);
}

int64_t DataPipeline::rows_in(int64_t b) const {
  return std::min(batch_, data_.count - b * batch_);
}

void DataPipeline::begin_epoch(int64_t epoch) {
  if (!shuffle_) return;
  std::iota(order_.begin(), order_.end(), 0);
  std::mt19937_64 rng(seed_ * 1000003 + uint64_t(epoch));
  if (block_ > 0) return shuffle_block_local(rng);
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
}

void DataPipeline::shuffle_block_local(std::mt19937_64& rng) {
  const int64_t count = data_.count, blocks = (count + block_ - 1) / block_;
  blocks_.resize(size_t(blocks));
  std::iota(blocks_.begin(), blocks_.end(), 0);
  for (size_t i = blocks_.size(); i > 1; --i) std::swap(blocks_[i - 1], blocks_[rng() % i]);
  window_start_.clear();
  size_t at = 0;
  for (size_t k = 0; k < blocks_.size(); ++k) {
    if (k % kWindow == 0) window_start_.push_back(int64_t(at));
    for (int64_t i = blocks_[k] * block_; i < std::min(count, (blocks_[k] + 1) * block_); ++i)
      order_[at++] = i;
  }
  window_start_.push_back(count);
  for (size_t w = 0; w + 1 < window_start_.size(); ++w)
    for (int64_t i = window_start_[w + 1] - window_start_[w]; i > 1; --i)
      std::swap(order_[size_t(window_start_[w] + i - 1)],
                order_[size_t(window_start_[w]) + rng() % uint64_t(i)]);
  read_ahead_ = SIZE_MAX;
  read_ahead(0);
}

// Asks the kernel to start reading window w's blocks into the page cache (advice: nothing waits for it).
void DataPipeline::read_ahead(size_t window) const {
  if (window + 1 >= window_start_.size()) return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  for (size_t k = window * kWindow; k < std::min(blocks_.size(), (window + 1) * kWindow); ++k) {
    const uintptr_t begin = reinterpret_cast<uintptr_t>(data_.mapped + blocks_[k] * block_ * row_bytes_);
    const uintptr_t end = reinterpret_cast<uintptr_t>(
        data_.mapped + std::min(data_.count, (blocks_[k] + 1) * block_) * row_bytes_);
    const uintptr_t aligned = begin / page * page;
    ::madvise(reinterpret_cast<void*>(aligned), end - aligned, MADV_WILLNEED);
  }
}

// Rows of batch b straight into the plan's input buffers: images converted from their bytes (byte * scale),
// labels one-hot. A data-parallel plan takes its shard: shard k of n gets the k-th n-th of the batch's rows.
int64_t DataPipeline::take(int64_t b, Plan& plan) {
  const Shard shard = plan.shard();
  const int64_t rows = rows_in(b) / shard.count;
  HG_ASSERT(rows * shard.count == rows_in(b) && rows == plan.batch(),
            "plan batch does not match the rows of this batch");
  const int64_t first = b * batch_ + shard.index * rows;
  if (block_ > 0) {  // entering a window: read the next one ahead
    const size_t window = size_t(std::upper_bound(window_start_.begin(), window_start_.end(), first) -
                                 window_start_.begin() - 1);
    if (window != read_ahead_) {
      read_ahead(window + 1);
      read_ahead_ = window;
    }
  }
  for (const Feed& feed : feeds_) {
    float* dst = plan.buffer(feed.node);
    if (!dst) continue;  // nothing in this plan reads the input
    if (feed.label) std::memset(dst, 0, sizeof(float) * size_t(rows * feed.width));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t sample = order_[size_t(first + r)];
      if (feed.label)
        dst[r * feed.width + data_.labels[size_t(sample)]] = 1.0f;
      else
        data_.copy_image(sample, dst + r * feed.width);
    }
  }
  return rows;
}

}  // namespace hg
