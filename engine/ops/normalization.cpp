// batchnorm(x, momentum=0.1, epsilon=1e-5) and layernorm(x, epsilon=1e-5): normalization with a learnable
// scale NAME.weights (ones) and shift NAME.bias (zeros); batchnorm also keeps running statistics as buffers.
// Plain loops accumulated in double, one loop nest for both layouts ([F] is [C=F, 1, 1]). oneDNN's batch
// and layer normalization primitives (with backward) fit and are not wired yet; these are their reference.
#include <cmath>
#include <cstdio>
#include <vector>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "plan/step_context.h"

namespace hg {
namespace {

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

// batchnorm: per feature of [F], per channel of [C,H,W], over the batch (and pixels). Training uses the
// batch's statistics and moves the buffers NAME.running_mean (zeros) and NAME.running_var (ones), as PyTorch
// does: r = (1 - momentum) r + momentum s, with the unbiased variance; every other plan uses them.
// layernorm: per sample, over all its elements, in every mode; its scale and shift are per element.
struct NormAttributes : Attributes {
  bool batch = true;  // batchnorm; layernorm otherwise
  double momentum = 0.1, epsilon = 1e-5;
};

// Shape contract: x is N x C x S floats (S = H*W, or 1 for features). Batch norm normalizes each of the C
// channels over N*S values; layer norm each of the N samples over C*S values, with a scale and shift per
// element (C*S). mean_ and inverse_ hold the statistics of the latest forward (C for batch norm, N for layer
// norm), which the backward of the same plan reads; they are allocated here, at bind.
class NormKernel {
 public:
  NormKernel(const NormAttributes& a, int64_t n, int64_t c, int64_t s, bool batch_statistics)
      : a_(a),
        n_(n),
        c_(c),
        s_(s),
        batch_statistics_(batch_statistics),
        mean_(size_t(a.batch ? c : n)),
        inverse_(size_t(a.batch ? c : n)) {}

  // gamma, beta: C (batch norm) or C*S (layer norm). running_mean, running_var: C, batch norm only.
  void forward(const float* x, const float* gamma, const float* beta, float* running_mean, float* running_var,
               float* y) {
    if (!a_.batch) {
      const int64_t e = c_ * s_;
      for (int64_t i = 0; i < n_; ++i) {
        const float* row = x + i * e;
        double sum = 0, squares = 0;
        for (int64_t j = 0; j < e; ++j) sum += row[j];
        const double mean = sum / double(e);
        for (int64_t j = 0; j < e; ++j) squares += (row[j] - mean) * (row[j] - mean);
        mean_[size_t(i)] = mean;
        inverse_[size_t(i)] = 1 / std::sqrt(squares / double(e) + a_.epsilon);
        for (int64_t j = 0; j < e; ++j)
          y[i * e + j] = float((row[j] - mean) * inverse_[size_t(i)] * gamma[j] + beta[j]);
      }
      return;
    }
    const double m = double(n_ * s_);
    for (int64_t ch = 0; ch < c_; ++ch) {
      double mean, variance;
      if (batch_statistics_) {
        double sum = 0, squares = 0;
        for (int64_t i = 0; i < n_; ++i)
          for (int64_t k = 0; k < s_; ++k) sum += x[(i * c_ + ch) * s_ + k];
        mean = sum / m;
        for (int64_t i = 0; i < n_; ++i)
          for (int64_t k = 0; k < s_; ++k) {
            const double d = x[(i * c_ + ch) * s_ + k] - mean;
            squares += d * d;
          }
        variance = squares / m;
        const double unbiased = m > 1 ? squares / (m - 1) : variance;
        running_mean[ch] = float((1 - a_.momentum) * running_mean[ch] + a_.momentum * mean);
        running_var[ch] = float((1 - a_.momentum) * running_var[ch] + a_.momentum * unbiased);
      } else {
        mean = running_mean[ch];
        variance = running_var[ch];
      }
      mean_[size_t(ch)] = mean;
      inverse_[size_t(ch)] = 1 / std::sqrt(variance + a_.epsilon);
      const double scale = inverse_[size_t(ch)] * gamma[ch];
      for (int64_t i = 0; i < n_; ++i)
        for (int64_t k = 0; k < s_; ++k) {
          const int64_t at = (i * c_ + ch) * s_ + k;
          y[at] = float((x[at] - mean) * scale + beta[ch]);
        }
    }
  }

  // diff_x from diff_y, x and gamma. With batch statistics the mean and variance depend on every x of the
  // group:  dx = inverse/M (M g dy - sum(g dy) - xhat sum(g dy xhat)), g the scale (per channel or element).
  void backward_data(const float* dy, const float* x, const float* gamma, float* dx) const {
    if (!a_.batch) {
      const int64_t e = c_ * s_;
      for (int64_t i = 0; i < n_; ++i) {
        const double mean = mean_[size_t(i)], inverse = inverse_[size_t(i)];
        double sum = 0, dot = 0;
        for (int64_t j = 0; j < e; ++j) {
          const double g = double(dy[i * e + j]) * gamma[j];
          sum += g;
          dot += g * (x[i * e + j] - mean) * inverse;
        }
        for (int64_t j = 0; j < e; ++j) {
          const double xhat = (x[i * e + j] - mean) * inverse, g = double(dy[i * e + j]) * gamma[j];
          dx[i * e + j] = float(inverse / double(e) * (double(e) * g - sum - xhat * dot));
        }
      }
      return;
    }
    const double m = double(n_ * s_);
    for (int64_t ch = 0; ch < c_; ++ch) {
      const double mean = mean_[size_t(ch)], inverse = inverse_[size_t(ch)], g = gamma[ch];
      double sum = 0, dot = 0;
      if (batch_statistics_)
        for (int64_t i = 0; i < n_; ++i)
          for (int64_t k = 0; k < s_; ++k) {
            const int64_t at = (i * c_ + ch) * s_ + k;
            sum += dy[at];
            dot += dy[at] * (x[at] - mean) * inverse;
          }
      for (int64_t i = 0; i < n_; ++i)
        for (int64_t k = 0; k < s_; ++k) {
          const int64_t at = (i * c_ + ch) * s_ + k;
          const double xhat = (x[at] - mean) * inverse;
          dx[at] = batch_statistics_ ? float(g * inverse / m * (m * dy[at] - sum - xhat * dot))
                                     : float(g * inverse * dy[at]);
        }
    }
  }

  int64_t parameter_count() const { return a_.batch ? c_ : c_ * s_; }

  // diff_gamma = sum dy xhat, or diff_beta = sum dy (whichever is not null), over the batch (and pixels);
  // per channel or per element. `sums` is the caller's scratch of parameter_count() doubles: the weights'
  // and the bias's backward nodes may run at the same time.
  void backward_parameters(const float* dy, const float* x, float* diff_gamma, float* diff_beta,
                           double* sums) const {
    const int64_t e = c_ * s_, count = parameter_count();
    std::fill(sums, sums + count, 0.0);
    for (int64_t i = 0; i < n_; ++i)
      for (int64_t j = 0; j < e; ++j) {
        const int64_t at = i * e + j, group = a_.batch ? j / s_ : i, slot = a_.batch ? j / s_ : j;
        sums[slot] += diff_gamma ? dy[at] * (x[at] - mean_[size_t(group)]) * inverse_[size_t(group)] : dy[at];
      }
    float* out = diff_gamma ? diff_gamma : diff_beta;
    for (int64_t j = 0; j < count; ++j) out[j] = float(sums[j]);
  }

 private:
  NormAttributes a_;
  int64_t n_, c_, s_;
  bool batch_statistics_;
  std::vector<double> mean_, inverse_;
};

std::shared_ptr<NormKernel> norm_kernel(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<NormKernel>(forward, [&] {
    const Node& f = context.node(forward);
    const Node& src = context.node(f.inputs[0]);
    const int64_t c = src.dims[0], s = src.elements_per_sample() / c;
    return std::make_shared<NormKernel>(f.attributes_as<NormAttributes>(), context.batch(), c, s,
                                        context.training());
  });
}

class NormBackwardDataOp : public Op {
 public:
  const char* name() const override { return "norm_backward_data"; }
  int arity() const override { return 3; }  // diff_dst, src, weights
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernel(context, id);
    const float *dy = context.input(id, 0), *x = context.input(id, 1), *gamma = context.input(id, 2);
    float* dx = context.buffer(id);
    return [=] { k->backward_data(dy, x, gamma, dx); };
  }
} const backward_data;

// One node per parameter, as dense does: either may be frozen, so each exists only when needed.
class NormBackwardParameterOp : public Op {
 public:
  explicit NormBackwardParameterOp(bool weights) : weights_(weights) {}
  const char* name() const override { return weights_ ? "norm_backward_weights" : "norm_backward_bias"; }
  int arity() const override { return 2; }  // diff_dst, src
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernel(context, id);
    const float *dy = context.input(id, 0), *x = context.input(id, 1);
    float* dst = context.buffer(id);
    const bool weights = weights_;
    auto sums = std::make_shared<std::vector<double>>(size_t(k->parameter_count()));
    return [=] {
      k->backward_parameters(dy, x, weights ? dst : nullptr, weights ? nullptr : dst, sums->data());
    };
  }

 private:
  bool weights_;
};
const NormBackwardParameterOp backward_weights(true), backward_bias(false);

class NormOp : public Op {
 public:
  explicit NormOp(bool batch) : batch_(batch) {}
  const char* name() const override { return batch_ ? "batchnorm" : "layernorm"; }
  bool callable() const override { return true; }
  void verify(const Graph& graph, const Node& n) const override {
    HG_ASSERT(n.inputs.size() == (batch_ ? 5u : 3u), n.name);
    HG_ASSERT(graph.node(n.inputs[0]).dims == n.dims, n.name + ": shape");
  }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<NormAttributes>();
    return batch_ ? "batchnorm(momentum " + number_text(a.momentum) + ")" : "layernorm";
  }
  NodeId lower(LowerContext& context, const ast::Expr& call) const override {
    DiagnosticSink& sink = context.sink();
    const std::vector<std::string> keywords =
        batch_ ? std::vector<std::string>{"momentum", "epsilon"} : std::vector<std::string>{"epsilon"};
    if (!check_arguments(call, 1, keywords, sink)) return kNoNode;
    if (!context.claim_parameters(call, name())) return kNoNode;
    const std::vector<NodeId> inputs = context.lower_inputs(call, 1, "op");
    auto a = std::make_shared<NormAttributes>();
    a->batch = batch_;
    bool ok = true;
    auto read = [&](const char* key, double& out, double low, double high, const char* bounds) {
      const ast::Arg* arg = keyword(call, key);
      if (!arg) return;
      auto v = constant_value(*arg->value, sink);
      if (v && *v > low && *v <= high) {
        out = *v;
        return;
      }
      if (v)
        sink.error(arg->value->location, std::string("'") + key + "' of " + name() + " must be in " + bounds +
                                             ", got " + number_text(*v));
      ok = false;
    };
    read("momentum", a->momentum, 0, 1, "(0, 1]");
    read("epsilon", a->epsilon, 0, 1, "(0, 1]");
    if (inputs.empty() || !ok) return kNoNode;
    const Node src = context.graph().node(inputs[0]);
    if (!src.batched || (src.dims.size() != 1 && src.dims.size() != 3)) {
      sink.error(positional(call, 0)->value->location,
                 std::string(name()) +
                     " expects samples shaped [features] or [channels, height, width], but '" + src.name +
                     "' is " + (src.batched ? shape_string(src.dims) : std::string("a parameter")));
      return kNoNode;
    }
    const int64_t width = batch_ ? src.dims[0] : src.elements_per_sample();
    Node n;
    n.op = this;
    n.name = context.statement_name() + "." + name();
    n.location = call.location;
    n.inputs = {inputs[0], context.add_parameter("weights", {width}, call.location, 1.0f),
                context.add_parameter("bias", {width}, call.location, 0.0f)};
    if (batch_) {
      n.inputs.push_back(context.add_buffer("running_mean", {width}, call.location, 0.0f));
      n.inputs.push_back(context.add_buffer("running_var", {width}, call.location, 1.0f));
    }
    n.dims = src.dims;
    n.batched = true;
    n.attributes = a;
    return context.add(std::move(n));
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const Node& n = context.node(id);
    const NodeId src = n.inputs[0], weights = n.inputs[1];
    context.input_gradient(backward_data, id, 0, {gradient, src, weights});
    context.input_gradient(backward_weights, id, 1, {gradient, src});
    context.input_gradient(backward_bias, id, 2, {gradient, src});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = norm_kernel(context, id);
    const float *x = context.input(id, 0), *gamma = context.input(id, 1), *beta = context.input(id, 2);
    float* running_mean = batch_ ? context.input(id, 3) : nullptr;
    float* running_var = batch_ ? context.input(id, 4) : nullptr;
    float* y = context.buffer(id);
    return [=] { k->forward(x, gamma, beta, running_mean, running_var, y); };
  }
  // Evaluation: BatchNormalization with the running statistics (its inference form); LayerNormalization
  // over every dim of a sample (axis 1), its per-element scale and shift given the sample's shape.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    const Node& n = context.graph().node(id);
    const OnnxAttribute epsilon =
        OnnxAttribute::real("epsilon", float(n.attributes_as<NormAttributes>().epsilon));
    std::vector<std::string> inputs;
    for (NodeId input : n.inputs) inputs.push_back(context.value(input));
    if (batch_) {
      context.add(id, "BatchNormalization", inputs, {context.value(id)}, {epsilon});
      return;
    }
    if (n.dims.size() > 1) {
      inputs[1] = context.reshape(id, inputs[1], n.dims, context.temporary(id, "scale"));
      inputs[2] = context.reshape(id, inputs[2], n.dims, context.temporary(id, "shift"));
    }
    context.add(id, "LayerNormalization", inputs, {context.value(id)},
                {OnnxAttribute::integer("axis", 1), epsilon});
  }

 private:
  bool batch_;
};

}  // namespace

const Op& batchnorm_op() {
  static const NormOp op(true);
  return op;
}
const Op& layernorm_op() {
  static const NormOp op(false);
  return op;
}

}  // namespace hg
