// Shuffling, gathering and prefetching of batches.
#include "runtime/pipeline.h"

#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <cstring>
#include <numeric>
#include <random>
#include <thread>

#include "kernels/threading.h"

namespace hg {

struct DataPipeline::Async {
  tbb::task_arena arena{1, 0};  // no slot reserved for the caller: a TBB worker gathers while compute runs
  tbb::task_group group;
};

DataPipeline::DataPipeline(const Graph& graph, const Dataset& data, int64_t batch, bool shuffle,
                           uint64_t seed)
    : data_(data),
      batch_(batch),
      shuffle_(shuffle),
      seed_(seed),
      async_(std::make_unique<Async>()),
      prefetch_on_spare_core_(unsigned(math_threads()) < std::thread::hardware_concurrency()) {
  for (NodeId id = 0; id < NodeId(graph.nodes.size()); ++id) {
    const Node& n = graph.node(id);
    if (n.op != OpKind::Input) continue;
    const bool label = n.source == "label";
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
  for (auto& slot : staging_)
    for (const Feed& f : feeds_) slot.emplace_back(size_t(batch * f.width));
}

// Only a pipeline that prefetches ever enters its TBB arena: an arena once entered asks TBB for a worker,
// and a worker spinning beside oneDNN's OpenMP team on a full machine made epochs 5x slower
// (docs/threading.md).
void DataPipeline::wait_for_prefetch() {
  if (prefetch_on_spare_core_) async_->arena.execute([&] { async_->group.wait(); });
}

DataPipeline::~DataPipeline() {
  wait_for_prefetch();
}

int64_t DataPipeline::rows_in(int64_t b) const {
  return std::min(batch_, data_.count - b * batch_);
}

void DataPipeline::begin_epoch(int64_t epoch) {
  wait_for_prefetch();
  if (shuffle_) {
    std::iota(order_.begin(), order_.end(), 0);
    std::mt19937_64 rng(seed_ * 1000003 + uint64_t(epoch));
    for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
  }
  pending_ = -1;
}

void DataPipeline::gather(int64_t b, int slot) {
  const int64_t rows = rows_in(b);
  for (size_t f = 0; f < feeds_.size(); ++f) {
    float* dst = staging_[slot][f].data();
    const Feed& feed = feeds_[f];
    if (feed.label) std::memset(dst, 0, sizeof(float) * size_t(rows * feed.width));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t sample = order_[size_t(b * batch_ + r)];
      if (feed.label)
        dst[r * feed.width + data_.labels[size_t(sample)]] = 1.0f;
      else
        std::memcpy(dst + r * feed.width, data_.image(sample), sizeof(float) * size_t(feed.width));
    }
  }
}

int64_t DataPipeline::take(int64_t b, Plan& plan) {
  wait_for_prefetch();
  if (pending_ != b) gather(b, int(b % 2));  // not prefetched (first batch, or out of order)
  const int64_t rows = rows_in(b);
  HG_ASSERT(rows == plan.batch(), "plan batch does not match the rows of this batch");
  for (size_t f = 0; f < feeds_.size(); ++f)
    if (float* dst = plan.buffer(feeds_[f].node))  // null when nothing in this plan reads the input
      std::memcpy(dst, staging_[b % 2][f].data(), sizeof(float) * size_t(rows * feeds_[f].width));
  const int64_t next = b + 1;
  pending_ = -1;
  if (next * batch_ < data_.count) {
    pending_ = next;
    if (prefetch_on_spare_core_)
      async_->arena.execute([&] { async_->group.run([this, next] { gather(next, int(next % 2)); }); });
    else
      gather(next, int(next % 2));
  }
  return rows;
}

}  // namespace hg
