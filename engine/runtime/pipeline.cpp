// Shuffling and gathering of batches.
#include "runtime/pipeline.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>

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
}

int64_t DataPipeline::rows_in(int64_t b) const {
  return std::min(batch_, data_.count - b * batch_);
}

void DataPipeline::begin_epoch(int64_t epoch) {
  if (!shuffle_) return;
  std::iota(order_.begin(), order_.end(), 0);
  std::mt19937_64 rng(seed_ * 1000003 + uint64_t(epoch));
  for (size_t i = order_.size(); i > 1; --i) std::swap(order_[i - 1], order_[rng() % i]);
}

// Rows of batch b straight into the plan's input buffers: images converted from their bytes (byte * scale),
// labels one-hot. A data-parallel plan takes its shard: shard k of n gets the k-th n-th of the batch's rows.
int64_t DataPipeline::take(int64_t b, Plan& plan) {
  const Shard shard = plan.shard();
  const int64_t rows = rows_in(b) / shard.count;
  HG_ASSERT(rows * shard.count == rows_in(b) && rows == plan.batch(),
            "plan batch does not match the rows of this batch");
  const int64_t first = b * batch_ + shard.index * rows;
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
