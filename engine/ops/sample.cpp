// sample.normal(mu, logvar): a VAE's reparameterization (Kingma and Welling 2014), the model for ops that
// behave differently in training and evaluation.
//   training (and PlanMode::Sampled, Corrupted):  z = mu + exp(logvar / 2) * eps,  eps ~ N(0, I)
//   evaluation and encode:                        z = mu
//   backward:  diff_mu = diff_z,  diff_logvar = diff_z * eps * exp(logvar / 2) / 2
// eps is a pure function of (the plan's step seed, the node's name, the element's index), so a run
// reproduces for any thread count and a resumed run draws what the uninterrupted one drew.
#include <cmath>
#include <cstring>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "kernels/threading.h"
#include "plan/step_context.h"

namespace hg {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A standard normal draw for element `index` of a stream, by Box-Muller on two 53-bit uniforms.
double normal_draw(uint64_t stream, int64_t index) {
  const uint64_t a = splitmix64(stream ^ splitmix64(uint64_t(index) * 2));
  const uint64_t b = splitmix64(stream ^ splitmix64(uint64_t(index) * 2 + 1));
  const double u1 = (double(a >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]: the log stays finite
  const double u2 = double(b >> 11) * 0x1.0p-53;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

// The draws of the latest forward, which the logvar gradient reads. One per plan and node.
struct SampleKernel {
  std::vector<float> eps;
};

std::shared_ptr<SampleKernel> sample_kernel(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  const int64_t count = context.count(forward);
  return context.shared_kernel<SampleKernel>(forward, [&] {
    auto k = std::make_shared<SampleKernel>();
    k->eps.assign(size_t(count), 0.0f);
    return k;
  });
}

class SampleBackwardMuOp : public Op {
 public:
  const char* name() const override { return "sample_backward_mu"; }
  int arity() const override { return 1; }  // diff_z
  StepFunction bind(StepContext& context, NodeId id) const override {
    const float* diff_z = context.input(id, 0);
    float* dst = context.buffer(id);
    const size_t bytes = sizeof(float) * size_t(context.count(id));
    return [=] { std::memcpy(dst, diff_z, bytes); };
  }
} const backward_mu;

class SampleBackwardLogvarOp : public Op {
 public:
  const char* name() const override { return "sample_backward_logvar"; }
  int arity() const override { return 2; }  // diff_z, logvar
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = sample_kernel(context, id);
    const float *diff_z = context.input(id, 0), *logvar = context.input(id, 1);
    float* dst = context.buffer(id);
    const float* eps = k->eps.data();
    const int64_t count = context.count(id);
    return [=] {
      parallel_for(0, count, 1 << 14, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = diff_z[i] * eps[i] * 0.5f * std::exp(0.5f * logvar[i]);
      });
    };
  }
} const backward_logvar;

class SampleNormalOp : public Op {
 public:
  const char* name() const override { return "sample.normal"; }
  bool callable() const override { return true; }
  int arity() const override { return 2; }  // mu, logvar

  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    if (!check_arguments(call, 2, {}, sink)) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 2, "op");
    if (inputs.empty()) return kNoNode;
    const Node &mu = context.graph().node(inputs[0]), &logvar = context.graph().node(inputs[1]);
    if (!mu.batched || mu.dims != logvar.dims || mu.batched != logvar.batched) {
      Diagnostic& d =
          sink.error(call.location, "sample.normal: mu '" + mu.name + "' is " +
                                        shape_string(mu.dims, mu.batched) + ", but logvar '" + logvar.name +
                                        "' is " + shape_string(logvar.dims, logvar.batched) +
                                        "; both must be the same batch of values");
      d.notes.push_back({Severity::Note, context.definition_of(mu), "'" + mu.name + "' is defined here", {}});
      d.notes.push_back(
          {Severity::Note, context.definition_of(logvar), "'" + logvar.name + "' is defined here", {}});
      return kNoNode;
    }
    return context.add_node(*this, call.location, inputs, mu.dims, true, nullptr, "sample");
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(backward_mu, id, 0, {gradient});
    context.input_gradient(backward_logvar, id, 1, {gradient, context.node(id).inputs[1]});
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    const float *mu = context.input(id, 0), *logvar = context.input(id, 1);
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    if (!context.sampling()) return [=] { std::memcpy(dst, mu, sizeof(float) * size_t(count)); };
    auto k = sample_kernel(context, id);
    float* eps = k->eps.data();
    const uint64_t* step_seed = context.step_seed();
    const uint64_t name_hash = std::hash<std::string>{}(context.node(id).name);
    // Draws are numbered from the global batch's first row, so a data-parallel shard draws what one process
    // draws for the same rows.
    const int64_t first = context.shard_index() * count;
    return [=] {
      const uint64_t stream = splitmix64(*step_seed ^ name_hash);
      parallel_for(0, count, 1 << 12, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          eps[i] = float(normal_draw(stream, first + i));
          dst[i] = mu[i] + std::exp(0.5f * logvar[i]) * eps[i];
        }
      });
    };
  }

  // The evaluation graph returns the mean: z = mu.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    context.unary(id, "Identity", context.value(context.graph().node(id).inputs[0]), context.value(id));
  }
};

}  // namespace

const Op& sample_normal_op() {
  static const SampleNormalOp op;
  return op;
}

}  // namespace hg
