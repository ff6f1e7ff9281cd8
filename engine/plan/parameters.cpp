// Parameter storage, initialization and the optimizer update.
#include "plan/parameters.h"

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

#include "ir/lower_util.h"
#include "kernels/bf16.h"
#include "kernels/threading.h"
#include "support/diagnostics.h"

namespace hg {

void FloatBuffer::Free::operator()(float* p) const {
  if (mapped)
    munmap(p, mapped);
  else
    std::free(p);
}

// Small buffers come from malloc and are zeroed. A buffer of 2 MB or more gets its own mapping, 2 MB
// aligned and a whole number of 2 MB pages, with huge pages asked for: in this VM a 4 KB page fault costs
// about 2 ms per MB. A fresh mapping is zero already, and its pages are made present
// (MADV_POPULATE_WRITE, which leaves their contents alone) on a helper thread, so that faulting them in,
// which takes 5-12 ms per 8 MB whenever the kernel must first compact memory for a huge page, overlaps
// the rest of the start-up (initialization, data, primitives) on the other core instead of delaying the
// first step. A page the caller writes first is faulted in by the caller, as usual; on a kernel without
// MADV_POPULATE_WRITE (before 5.14) every page is faulted in that way.
FloatBuffer::FloatBuffer(int64_t count) : size_(count) {
  constexpr size_t kHuge = size_t(2) << 20;
  size_t bytes = size_t(std::max<int64_t>(count, 1)) * sizeof(float);
  if (bytes < kHuge) {
    bytes = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    data_.reset(static_cast<float*>(p));
    return;
  }
  bytes = (bytes + kHuge - 1) / kHuge * kHuge;
  void* raw = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  const uintptr_t start = reinterpret_cast<uintptr_t>(raw), aligned = (start + kHuge - 1) / kHuge * kHuge;
  if (aligned > start) munmap(raw, aligned - start);
  if (const size_t tail = start + kHuge - aligned) munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* p = reinterpret_cast<void*>(aligned);
  madvise(p, bytes, MADV_HUGEPAGE);  // advice only: 4 KB pages if the kernel says no
  data_ = std::unique_ptr<float[], Free>(static_cast<float*>(p), Free(bytes));
  faulting_ = std::shared_ptr<std::thread>(new std::thread([p, bytes] {
#ifndef MADV_POPULATE_WRITE
                                             constexpr int MADV_POPULATE_WRITE = 23;
#endif
                                             madvise(p, bytes, MADV_POPULATE_WRITE);
                                           }),
                                           [](std::thread* t) {
                                             t->join();
                                             delete t;
                                           });
}

FloatBuffer& FloatBuffer::operator=(FloatBuffer&& other) noexcept {
  faulting_.reset();  // this buffer's helper is done before its memory goes
  data_ = std::move(other.data_);
  size_ = other.size_;
  faulting_ = std::move(other.faulting_);
  return *this;
}

static int64_t padded(int64_t count) {
  return (count + 15) / 16 * 16;
}  // keep every slot 64-byte aligned

ParameterStore::ParameterStore(const Graph& graph) {
  for (NodeId id : graph.parameters) {
    const Node& n = graph.node(id);
    const auto& a = n.attributes_as<ParameterAttributes>();
    ParameterSlot s{
        id,        n.name,   n.dims,    total_,  n.elements_per_sample(), a.trainable && !a.buffer,
        a.lr_mult, a.buffer, a.initial, a.fan_in};
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
  for (int i = 0; i < optimizer_states(graph.train.optimizer); ++i) states_.emplace_back(total_);
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

void ParameterStore::initialize(uint64_t seed, bool fan_in) {
  for (const ParameterSlot& s : slots_) {
    float* p = values_.data() + s.offset;
    const uint64_t stream = seed ^ std::strtoull(fnv1a_hex(s.name).c_str(), nullptr, 16);
    if (fan_in && s.fan_in > 0) {
      glorot_fill(p, s.count, stream, 1.0 / std::sqrt(double(s.fan_in)));
      continue;
    }
    if (s.dims.size() < 2) {
      std::fill(p, p + s.count, s.initial);
      continue;
    }
    const double fan_out = double(s.dims[0]), fan_in = double(s.count) / fan_out;
    const double limit = std::sqrt(6.0 / (fan_in + fan_out));
    glorot_fill(p, s.count, stream, limit);
  }
  for (FloatBuffer& b : states_) std::memset(b.data(), 0, sizeof(float) * size_t(total_));
  step = 0;
  values_changed();
}

const uint16_t* ParameterStore::bf16_values(const ParameterSlot& slot) {
  if (bf16_.empty()) {
    bf16_.resize(size_t(total_));
    bf16_step_.assign(slots_.size(), -1);
  }
  const size_t index = size_t(&slot - slots_.data());
  HG_ASSERT(index < slots_.size(), "bf16_values: not this store's slot");
  if (bf16_step_[index] != step) {
    convert_to_bf16(values_.data() + slot.offset, bf16_.data() + slot.offset, slot.count);
    bf16_step_[index] = step;
  }
  return bf16_.data() + slot.offset;
}

void ParameterStore::values_changed() {
  std::fill(bf16_step_.begin(), bf16_step_.end(), -1);
}

// Compiled twice, for AVX2 and for any x86-64, and picked at load time. No FMA in either: contracting
// x * width + low into one rounding would change the values.
__attribute__((target_clones("avx2", "default"))) void glorot_fill(float* out, int64_t count, uint64_t seed,
                                                                   double limit) {
  // std::mt19937_64's parameters (Matsumoto and Nishimura's MT19937-64).
  constexpr int n = 312, m = 156;
  constexpr uint64_t upper = 0xffffffff80000000ULL, lower = 0x7fffffffULL, a = 0xb5026f5aa96619e9ULL;
  uint64_t x[n];
  x[0] = seed;
  for (int i = 1; i < n; ++i) x[i] = 6364136223846793005ULL * (x[i - 1] ^ (x[i - 1] >> 62)) + uint64_t(i);
  auto twist = [&](int k, int next, int far) {
    const uint64_t y = (x[k] & upper) | (x[next] & lower);
    x[k] = x[far] ^ (y >> 1) ^ ((x[next] & 1) ? a : 0);
  };
  const double low = -limit, width = limit - low;  // uniform_real_distribution: u * (b - a) + a
  for (int64_t done = 0; done < count; done += n) {
    for (int k = 0; k < n - m; ++k) twist(k, k + 1, k + m);
    for (int k = n - m; k < n - 1; ++k) twist(k, k + 1, k + m - n);
    twist(n - 1, 0, m - 1);
    const int take = int(std::min<int64_t>(n, count - done));
    for (int i = 0; i < take; ++i) {
      uint64_t z = x[i];
      z ^= (z >> 29) & 0x5555555555555555ULL;
      z ^= (z << 17) & 0x71d67fffeda60000ULL;
      z ^= (z << 37) & 0xfff7eee000000000ULL;
      z ^= z >> 43;
      // generate_canonical: double(z) / 2^64, below 1. The halves convert exactly and their sum rounds
      // once, so this is double(z) correctly rounded, without the branch of a 64-bit unsigned conversion.
      double u = (double(uint32_t(z >> 32)) * 0x1p32 + double(uint32_t(z))) * 0x1p-64;
      u = u >= 1.0 ? 0x1.fffffffffffffp-1 : u;
      out[done + i] = float(u * width + low);
    }
  }
}

namespace {

// The update of elements [from, to) of the arenas at `rate`, the `step`th update (counted from 1). Every
// element is independent of the others, so any split of a range gives the same bits.
struct UpdateRule {
  bool adam;
  float mu, b1, b2, eps, c1, c2;
  UpdateRule(const OptimizerSettings& o, int64_t step)
      : adam(o.kind == "adam"),
        mu(float(o.momentum)),
        b1(float(o.beta1)),
        b2(float(o.beta2)),
        eps(float(o.epsilon)),
        c1(float(1.0 / (1.0 - std::pow(o.beta1, double(step))))),
        c2(float(1.0 / (1.0 - std::pow(o.beta2, double(step))))) {}

  void apply(ParameterStore& store, int64_t from, int64_t to, float rate) const {
    float *p = store.values(), *g = store.gradients(), *m = store.state(0);
    float* v = adam ? store.state(1) : nullptr;
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
};

}  // namespace

void optimizer_step(const OptimizerSettings& o, ParameterStore& store) {
  ++store.step;
  const UpdateRule rule(o, store.step);
  const double lr = o.learning_rate * store.learning_rate_scale;
  const std::vector<ParameterStore::Run>& runs = store.runs_;
  // One parallel pass over the trainable elements, numbered run after run; each chunk finds its runs.
  parallel_for(0, store.trainable_, 1 << 14, [&](int64_t b, int64_t e) {
    int64_t first = 0;  // the trainable index where run r starts
    for (const ParameterStore::Run& r : runs) {
      const int64_t length = r.end - r.begin, lo = std::max(b, first), hi = std::min(e, first + length);
      if (lo < hi) rule.apply(store, r.begin + (lo - first), r.begin + (hi - first), float(lr * r.lr_mult));
      first += length;
    }
  });
}

void optimizer_update(const OptimizerSettings& o, ParameterStore& store, const ParameterSlot& slot) {
  const UpdateRule rule(o, store.step + 1);
  const float rate = float(o.learning_rate * store.learning_rate_scale * slot.lr_mult);
  // A slot with a bf16 copy gets it written in the same pass, while the new values are in cache; it is then
  // current once the step that this update belongs to is counted.
  const size_t index = size_t(&slot - store.slots_.data());
  uint16_t* copy = store.bf16_.empty() ? nullptr : store.bf16_.data();
  const bool keep_copy = copy && store.bf16_step_[index] == store.step;
  parallel_for(slot.offset, slot.offset + slot.count, 1 << 14, [&](int64_t b, int64_t e) {
    rule.apply(store, b, e, rate);
    if (keep_copy)
      for (int64_t i = b; i < e; ++i) copy[i] = to_bf16(store.values()[i]);
  });
  if (keep_copy) store.bf16_step_[index] = store.step + 1;
}

}  // namespace hg
