// Every parameter, its gradient and its optimizer state, each in one flat 64-byte-aligned allocation with
// the same layout (llm.c style), so the optimizer step is one loop and checkpoints are a few memcpys.
// Parameters outlive plans: the training plan, the evaluation plan and any tail-batch plan share them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace hg {

// A 64-byte aligned, zeroed float array whose pages are touched once up front. Buffers of 2 MB or more are
// 2 MB aligned and ask for transparent huge pages: a page fault costs about 14 µs in this VM, so zeroing
// 25 MB of parameters in 4 KB pages took 14 ms of the start-up, and 3 ms in 2 MB pages.
class FloatBuffer {
 public:
  FloatBuffer() = default;
  // `count` zeros. A buffer of 2 MB or more is its own mapping, in huge pages where the kernel gives them,
  // with its pages made present on a helper thread while the caller goes on (see the .cpp).
  explicit FloatBuffer(int64_t count);
  FloatBuffer(FloatBuffer&& other) noexcept = default;
  FloatBuffer& operator=(FloatBuffer&& other) noexcept;
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t size() const { return size_; }

 private:
  struct Free {
    Free() : mapped(0) {}
    explicit Free(size_t bytes) : mapped(bytes) {}
    size_t mapped;  // bytes of its own mapping (large buffers), 0: from malloc
    void operator()(float* p) const;
  };
  std::unique_ptr<float[], Free> data_;
  int64_t size_ = 0;
  std::shared_ptr<void> faulting_;  // the helper thread, joined on release: declared last, released first
};

struct ParameterSlot {
  NodeId node = kNoNode;
  std::string name;
  std::vector<int64_t> dims;
  int64_t offset = 0, count = 0;  // in floats, into every arena below
  bool trainable = true;
  double lr_mult = 1;
  bool buffer = false;  // running statistics: saved and restored, never trained (ParameterAttributes::buffer)
  float initial = 0;    // the fill of a rank < 2 slot
  int64_t fan_in = 0;   // ParameterAttributes::fan_in: a layer's weights or bias
};

class ParameterStore {
 public:
  ParameterStore() = default;
  explicit ParameterStore(const Graph& graph);

  // Glorot-uniform weights, zero biases; with `fan_in`, every layer's weights and bias from
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)) instead (TrainSettings::initializer). Other parameters take their
  // `initial` fill. Each parameter draws from its own stream derived from the seed and its name, so adding a
  // layer does not change the others' initial values. The values are exactly those of std::mt19937_64 through
  // std::uniform_real_distribution<double>, computed 7x faster (see glorot_fill).
  void initialize(uint64_t seed, bool fan_in = false);

  const std::vector<ParameterSlot>& slots() const { return slots_; }
  const ParameterSlot* slot(NodeId node) const;
  const ParameterSlot* slot(const std::string& name) const;
  int64_t total() const { return total_; }

  float* values() { return values_.data(); }
  float* gradients() { return gradients_.data(); }
  // Momentum (state 0) or Adam's moments (0 and 1): only the optimizer's own states are allocated.
  float* state(int which) { return states_.at(size_t(which)).data(); }
  int states() const { return int(states_.size()); }
  float* value(NodeId node) { return values_.data() + slot(node)->offset; }
  float* gradient(NodeId node) { return gradients_.data() + slot(node)->offset; }
  // `precision = bf16`: a bf16 copy of the values, which each parameter's update (optimizer_update) writes
  // in the same pass as the f32 values. bf16_values(slot) returns the slot's copy, made afresh from the f32
  // values unless the last completed optimizer step wrote it. Anything else that writes values (loading a
  // checkpoint, initialize) must call values_changed(). Not safe to call concurrently for one slot.
  const uint16_t* bf16_values(const ParameterSlot& slot);
  void values_changed();
  int64_t step = 0;                // optimizer steps taken (Adam's bias correction)
  double learning_rate_scale = 1;  // the schedule's factor on the optimizer's lr, set by train() each step

 private:
  friend void optimizer_step(const OptimizerSettings& settings, ParameterStore& store);
  friend void optimizer_update(const OptimizerSettings& settings, ParameterStore& store,
                               const ParameterSlot& slot);
  // Stretches of the arenas that the optimizer updates at one lr multiplier: neighbouring trainable slots
  // with the same lr_mult merge (with the padding between them, whose gradient stays 0), so a graph with
  // nothing frozen is one run and the update one pass.
  struct Run {
    int64_t begin, end;
    double lr_mult;
  };
  std::vector<Run> runs_;
  int64_t trainable_ = 0;  // elements in runs_
  std::vector<ParameterSlot> slots_;
  std::map<NodeId, size_t> by_node_;
  int64_t total_ = 0;
  FloatBuffer values_, gradients_;
  std::vector<FloatBuffer> states_;
  std::vector<uint16_t> bf16_;      // allocated by the first bf16_values call
  std::vector<int64_t> bf16_step_;  // per slot: the value of `step` its bf16 copy is current for, or -1
};

// `count` floats uniform in [-limit, limit): bit for bit what
//   std::mt19937_64 rng(seed); std::uniform_real_distribution<double> u(-limit, limit); out[i] =
//   float(u(rng))
// gives with libstdc++, which draws one 64-bit word per value (generate_canonical<double, 53>). The generator
// is written out so that its twist, tempering and conversion vectorize: 1.3 ms instead of 9.6 ms for 784k
// values. A test checks it against the standard library.
void glorot_fill(float* out, int64_t count, uint64_t seed, double limit);

// One optimizer update over the flat arenas: SGD with momentum (PyTorch's form: v = mu v + g; p -= lr v) or
// Adam with bias correction, at the optimizer's lr times store.learning_rate_scale times each parameter's
// lr_mult. Frozen parameters are skipped.
void optimizer_step(const OptimizerSettings& settings, ParameterStore& store);

// One trainable slot's part of the next optimizer_step, with the same arithmetic: a training plan updates
// each parameter as soon as its gradient is final and its last reader has run, while the gradient is still
// in cache, and then counts the step once (++store.step) after every slot's update. The bits are those of
// optimizer_step.
void optimizer_update(const OptimizerSettings& settings, ParameterStore& store, const ParameterSlot& slot);

}  // namespace hg
