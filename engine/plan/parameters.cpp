// Parameter storage, initialization and the optimizer update.
#include "plan/parameters.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "ir/lower_util.h"
#include "kernels/threading.h"

namespace hg {

void FloatBuffer::Free::operator()(float* p) const {
  std::free(p);
}

FloatBuffer::FloatBuffer(int64_t count) : size_(count) {
  const size_t bytes = (size_t(std::max<int64_t>(count, 1)) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);  // fault every page in now, not during the first step
  data_.reset(static_cast<float*>(p));
}

static int64_t padded(int64_t count) {
  return (count + 15) / 16 * 16;
}  // keep every slot 64-byte aligned

ParameterStore::ParameterStore(const Graph& graph) {
  for (NodeId id : graph.parameters) {
    const Node& n = graph.node(id);
    ParameterSlot s{id, n.name, n.dims, total_, n.elements_per_sample(), n.trainable, n.lr_mult};
    by_node_[id] = slots_.size();
    slots_.push_back(s);
    total_ += padded(s.count);
    if (!s.trainable) continue;
    if (!runs_.empty() && runs_.back().end == s.offset && runs_.back().lr_mult == s.lr_mult)
      runs_.back().end = total_;
    else
      runs_.push_back({s.offset, total_, s.lr_mult});
    trainable_ += total_ - s.offset;
  }
  values_ = FloatBuffer(total_);
  gradients_ = FloatBuffer(total_);
  state0_ = FloatBuffer(total_);
  state1_ = FloatBuffer(total_);
}

const ParameterSlot* ParameterStore::slot(NodeId node) const {
  auto it = by_node_.find(node);
  return it == by_node_.end() ? nullptr : &slots_[it->second];
}

const ParameterSlot* ParameterStore::slot(const std::string& name) const {
  for (const ParameterSlot& s : slots_)
    if (s.name == name) return &s;
  return nullptr;
}

void ParameterStore::initialize(uint64_t seed) {
  for (const ParameterSlot& s : slots_) {
    float* p = values_.data() + s.offset;
    if (s.dims.size() < 2) {
      std::fill(p, p + s.count, 0.0f);
      continue;
    }
    const double fan_out = double(s.dims[0]), fan_in = double(s.count) / fan_out;
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    std::mt19937_64 rng(seed ^ std::strtoull(fnv1a_hex(s.name).c_str(), nullptr, 16));
    std::uniform_real_distribution<double> uniform(-limit, limit);
    for (int64_t i = 0; i < s.count; ++i) p[i] = float(uniform(rng));
  }
  std::memset(state0_.data(), 0, sizeof(float) * size_t(total_));
  std::memset(state1_.data(), 0, sizeof(float) * size_t(total_));
  step = 0;
}

void optimizer_step(const OptimizerSettings& o, ParameterStore& store) {
  ++store.step;
  const float mu = float(o.momentum);
  const float b1 = float(o.beta1), b2 = float(o.beta2), eps = float(o.epsilon);
  const float c1 = float(1.0 / (1.0 - std::pow(o.beta1, double(store.step))));
  const float c2 = float(1.0 / (1.0 - std::pow(o.beta2, double(store.step))));
  const bool adam = o.kind == "adam";
  const double lr = o.learning_rate * store.learning_rate_scale;
  float *p = store.values(), *g = store.gradients(), *m = store.state(0), *v = store.state(1);
  const std::vector<ParameterStore::Run>& runs = store.runs_;
  // One parallel pass over the trainable elements, numbered run after run; each chunk finds its runs.
  parallel_for(0, store.trainable_, 1 << 14, [&](int64_t b, int64_t e) {
    int64_t first = 0;  // the trainable index where run r starts
    for (const ParameterStore::Run& r : runs) {
      const int64_t length = r.end - r.begin, lo = std::max(b, first), hi = std::min(e, first + length);
      if (lo < hi) {
        const float rate = float(lr * r.lr_mult);
        const int64_t from = r.begin + (lo - first), to = r.begin + (hi - first);
        if (adam) {
          for (int64_t i = from; i < to; ++i) {
            m[i] = b1 * m[i] + (1 - b1) * g[i];
            v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
            p[i] -= rate * (m[i] * c1) / (std::sqrt(v[i] * c2) + eps);
          }
        } else {
          for (int64_t i = from; i < to; ++i) {
            m[i] = mu * m[i] + g[i];
            p[i] -= rate * m[i];
          }
        }
      }
      first += length;
    }
  });
}

}  // namespace hg
