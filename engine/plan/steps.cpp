// One case per op: which kernel runs a node and on which buffers. Forward and backward nodes of one op
// share its kernel object, so a dense layer's primitives are created once per plan.
#include "plan/steps.h"

#include <cstring>

#include "kernels/activation.h"
#include "kernels/conv.h"
#include "kernels/dense.h"
#include "kernels/pool.h"
#include "kernels/threading.h"

namespace hg {
namespace {

DenseShape dense_shape(const Graph& g, const Node& dense, int64_t batch, NodeId fused_activation) {
  const Node& src = g.node(dense.inputs[0]);
  return DenseShape{batch,
                    src.elements_per_sample(),
                    dense.units,
                    dense.transposed_weights,
                    dense.inputs.size() > 2,
                    fused_activation == kNoNode ? Activation::Linear : g.node(fused_activation).activation};
}

// The tensor view a plugin sees: [batch, dims...] for batched values.
hg_tensor tensor_view(const Node& n, float* data, int64_t batch) {
  hg_tensor t{};
  t.data = data;
  if (n.batched) t.dims[t.rank++] = batch;
  for (int64_t d : n.dims) {
    HG_ASSERT(t.rank < HG_MAX_RANK, "tensor rank above HG_MAX_RANK");
    t.dims[t.rank++] = d;
  }
  return t;
}

}  // namespace

bool StepBuilder::has_step(const Node& node) const {
  return node.op != OpKind::Input && node.op != OpKind::Parameter;
}

template <class K>
std::shared_ptr<K> StepBuilder::shared_kernel(NodeId forward, std::function<std::shared_ptr<K>()> make,
                                              int variant) {
  auto it = plan.kernels_.find({forward, variant});
  if (it != plan.kernels_.end()) return std::static_pointer_cast<K>(it->second);
  std::shared_ptr<K> kernel = make();
  plan.kernels_[{forward, variant}] = kernel;
  return kernel;
}

std::function<void()> StepBuilder::build(NodeId id) {
  const Graph& g = plan.graph_;
  const Node& n = g.node(id);
  const int64_t batch = plan.batch_;
  float* dst = plan.buffers_[id];
  auto in = [&](size_t i) { return plan.buffers_[n.inputs.at(i)]; };
  const NodeId forward = n.forward == kNoNode ? id : n.forward;
  auto dense = [&] {
    return shared_kernel<DenseKernels>(forward, [&] {
      return std::make_shared<DenseKernels>(
          dense_shape(g, g.node(forward), batch, plan.fused_activation_[forward]));
    });
  };
  auto activation = [&] {
    return shared_kernel<ActivationKernels>(forward, [&] {
      const Node& f = g.node(forward);
      return std::make_shared<ActivationKernels>(f.activation, batch, f.elements_per_sample());
    });
  };
  const int64_t count = (n.batched ? batch : 1) * n.elements_per_sample();
  switch (n.op) {
    case OpKind::Dense: {
      auto k = dense();
      float *src = in(0), *weights = in(1), *bias = n.inputs.size() > 2 ? in(2) : nullptr;
      return [=] { k->forward(src, weights, bias, dst); };
    }
    case OpKind::DenseBackwardData: {
      auto k = dense();
      float *diff_dst = in(0), *weights = in(1);
      return [=] { k->backward_data(diff_dst, weights, dst); };
    }
    case OpKind::DenseBackwardWeights: {
      auto k = dense();
      float *diff_dst = in(0), *src = in(1);
      return [=] { k->backward_weights(diff_dst, src, dst, false); };
    }
    case OpKind::DenseBackwardBias: {
      auto k = dense();
      float* diff_dst = in(0);
      return [=] { k->backward_bias(diff_dst, dst, false); };
    }
    case OpKind::Activation: {
      if (plan.fused_[id]) return [] {};  // its dense node's GEMM already applied it
      auto k = activation();
      float* src = in(0);
      return [=] { k->forward(src, dst); };
    }
    case OpKind::ActivationBackward: {
      auto k = activation();
      float *diff_dst = in(0), *forward_dst = in(1);
      return [=] { k->backward(diff_dst, forward_dst, dst); };
    }
    case OpKind::GradientSum: {
      std::vector<float*> sources;
      for (size_t i = 0; i < n.inputs.size(); ++i) sources.push_back(in(i));
      return [=] {
        parallel_for(0, count, 1 << 14, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            float sum = 0;
            for (float* s : sources) sum += s[i];
            dst[i] = sum;
          }
        });
      };
    }
    case OpKind::Objective: {
      Plan* p = &plan;
      return [=] {
        double total = 0;
        for (size_t k = 0; k < n.inputs.size(); ++k) total += n.weights[k] * p->values_[n.inputs[k]];
        p->values_[id] = total;
        *dst = float(total);
      };
    }
    case OpKind::OptimizerStep: {
      ParameterStore* store = &plan.parameters_;
      const OptimizerSettings settings = g.train.optimizer;
      return [=] { optimizer_step(settings, *store); };
    }
    case OpKind::Conv:
    case OpKind::ConvBackwardData:
    case OpKind::ConvBackwardWeights:
    case OpKind::ConvBackwardBias:
    case OpKind::Pool:
    case OpKind::PoolBackward:
    case OpKind::Reshape:
    case OpKind::ReshapeBackward:
      return build_spatial(id);
    default:
      return build_term(id);
  }
}

// Convolutions, pooling and reshape on NCHW batches.
std::function<void()> StepBuilder::build_spatial(NodeId id) {
  const Graph& g = plan.graph_;
  const Node& n = g.node(id);
  const NodeId forward = n.forward == kNoNode ? id : n.forward;
  const Node& f = g.node(forward);
  const Node& src_node = g.node(f.inputs[0]);
  const int64_t batch = plan.batch_;
  float* dst = plan.buffers_[id];
  auto in = [&](size_t i) { return plan.buffers_[n.inputs.at(i)]; };
  ConvShape conv_shape{batch,
                       src_node.dims[0],
                       src_node.dims[1],
                       src_node.dims[2],
                       f.units,
                       f.kernel,
                       f.kernel,
                       f.stride,
                       f.stride,
                       f.pad,
                       f.pad,
                       f.transposed_weights,
                       f.inputs.size() > 2};
  // The weights gradient runs on a bias-free twin: the bias gradient is its own node (a channel sum below).
  auto conv = [&](bool with_bias) {
    ConvShape shape = conv_shape;
    shape.has_bias = shape.has_bias && with_bias;
    return shared_kernel<ConvKernels>(
        forward, [&] { return std::make_shared<ConvKernels>(shape); }, with_bias ? 0 : 1);
  };
  auto pool = [&] {
    const PoolShape shape{batch,
                          src_node.dims[0],
                          src_node.dims[1],
                          src_node.dims[2],
                          f.kernel,
                          f.kernel,
                          f.stride,
                          f.stride,
                          f.pad,
                          f.pad,
                          f.max_pool};
    return shared_kernel<PoolKernels>(forward, [&] { return std::make_shared<PoolKernels>(shape); });
  };
  const size_t bytes = sizeof(float) * size_t(batch * n.elements_per_sample());
  switch (n.op) {
    case OpKind::Conv: {
      auto k = conv(true);
      float *src = in(0), *weights = in(1), *bias = n.inputs.size() > 2 ? in(2) : nullptr;
      return [=] { k->forward(src, weights, bias, dst); };
    }
    case OpKind::ConvBackwardData: {
      auto k = conv(true);
      float *diff_dst = in(0), *weights = in(1);
      return [=] { k->backward_data(diff_dst, weights, dst); };
    }
    case OpKind::ConvBackwardWeights: {
      auto k = conv(false);
      float *diff_dst = in(0), *src = in(1);
      return [=] { k->backward_weights(diff_dst, src, dst, nullptr); };
    }
    case OpKind::ConvBackwardBias: {  // diff_bias (OC) = sum over N, H, W of diff_dst (N, OC, H, W)
      float* diff_dst = in(0);
      const int64_t channels = f.dims[0], plane = f.dims[1] * f.dims[2];
      return [=] {
        parallel_for(0, channels, 1, [&](int64_t begin, int64_t end) {
          for (int64_t c = begin; c < end; ++c) {
            double sum = 0;
            for (int64_t s = 0; s < batch; ++s)
              for (const float *p = diff_dst + (s * channels + c) * plane, *e = p + plane; p < e; ++p)
                sum += *p;
            dst[c] = float(sum);
          }
        });
      };
    }
    case OpKind::Pool: {
      auto k = pool();
      float* src = in(0);
      return [=] { k->forward(src, dst); };
    }
    case OpKind::PoolBackward: {  // max pooling reads the workspace of this kernel's latest forward
      auto k = pool();
      float* diff_dst = in(0);
      return [=] { k->backward(diff_dst, dst); };
    }
    case OpKind::Reshape:
    case OpKind::ReshapeBackward: {
      float* src = in(0);
      return [=] { std::memcpy(dst, src, bytes); };
    }
    default:
      HG_ASSERT(false, std::string("not a spatial op: ") + op_name(n.op));
  }
  return {};
}

// Plugin terms: losses/regularizers (value and gradient) and corruptions (apply, apply_gradient; identity
// in evaluation). The tensor views are built here once; each run only fills the seed.
std::function<void()> StepBuilder::build_term(NodeId id) {
  const Graph& g = plan.graph_;
  const Node& n = g.node(id);
  const int64_t batch = plan.batch_;
  const Node& term_node = n.forward == kNoNode ? n : g.node(n.forward);
  Plan* p = &plan;
  auto views = std::make_shared<std::vector<hg_tensor>>();
  for (NodeId input : term_node.inputs)
    views->push_back(tensor_view(g.node(input), plan.buffers_[input], batch));
  const TermRef* term = n.term;
  const std::vector<double>* params = &n.term_params;
  const SourceLocation* where = &n.location;
  const bool training = plan.mode_ != PlanMode::Eval;
  auto make_call = [=] {
    hg_term_call call{};
    call.host = plugin_host();
    call.params = params->data();
    call.num_inputs = int32_t(views->size());
    call.inputs = views->data();
    call.seed = p->step_seed_ ^ (uint64_t(n.forward == kNoNode ? id : n.forward) * 0x9E3779B97F4A7C15ull);
    call.training = training ? 1 : 0;
    return call;
  };
  float* dst = plan.buffers_[id];
  const int64_t count = (n.batched ? batch : 1) * n.elements_per_sample();
  switch (n.op) {
    case OpKind::Term:
      return [=] {
        p->values_[id] = call_term_value(*term, make_call(), *where);
        *dst = float(p->values_[id]);
      };
    case OpKind::TermBackward: {
      auto diffs = std::make_shared<std::vector<hg_tensor>>(*views);
      for (size_t i = 0; i < diffs->size(); ++i) (*diffs)[i].data = int(i) == n.input_index ? dst : nullptr;
      const float scale = float(n.scale);
      return [=] {
        std::memset(dst, 0, sizeof(float) * size_t(count));
        call_term_gradient(*term, make_call(), scale, diffs->data(), *where);
      };
    }
    case OpKind::Corrupt: {
      hg_tensor out = tensor_view(n, dst, batch);
      const float* src = plan.buffers_[n.inputs[0]];
      if (!training) return [=] { std::memcpy(dst, src, sizeof(float) * size_t(count)); };
      return [=] {
        hg_tensor o = out;
        call_term_apply(*term, make_call(), &o, *where);
      };
    }
    case OpKind::CorruptBackward: {
      hg_tensor diff_dst = tensor_view(n, plan.buffers_[n.inputs[0]], batch);
      hg_tensor diff_src = tensor_view(n, dst, batch);
      return [=] {
        std::memset(dst, 0, sizeof(float) * size_t(count));
        hg_tensor d = diff_src;
        call_term_apply_gradient(*term, make_call(), &diff_dst, &d, *where);
      };
    }
    default:
      HG_ASSERT(false, std::string("no kernel for op ") + op_name(n.op));
  }
  return {};
}

}  // namespace hg
