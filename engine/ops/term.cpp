// Plugin terms: a loss or regularizer term (a scalar in the objective, with the gradient w.r.t. each of its
// inputs) and a corruption (apply, and apply_gradient; identity in evaluation). Lowering names the term
// (TermAttributes); the plan resolves the name in the loaded plugins, builds the tensor views once and
// creates the term's state (hg_term.create) once per use, shared by its forward and backward steps, so each
// step only fills in the seed.
#include "ops/term.h"

#include <cstring>

#include "ir/onnx.h"
#include "kernels/threading.h"
#include "plan/step_context.h"

namespace hg {
namespace {

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

// The gradient of a term w.r.t. one input, scaled by d objective / d term.
struct TermGradientAttributes : TermAttributes {
  double scale = 1;
  int input_index = 0;
};

// What every term step needs: the resolved term, its input views, its state, and a call filled in per run.
struct TermBinding {
  const TermRef* term = nullptr;
  std::shared_ptr<std::vector<hg_tensor>> views;
  std::shared_ptr<TermState> state;
  std::function<hg_term_call()> make_call;
  const SourceLocation* where = nullptr;
};

TermBinding bind_term(StepContext& context, NodeId id) {
  const Node& n = context.node(id);
  const NodeId forward = context.forward_of(id);
  const Node& term_node = context.node(forward);
  const auto& attributes = term_node.attributes_as<TermAttributes>();
  TermBinding b;
  b.term = context.plugins().find(attributes.term);
  if (!b.term)
    throw Error(n.location, "term '" + attributes.term +
                                "' is not provided by the plugins this plan was "
                                "built with");
  b.views = std::make_shared<std::vector<hg_tensor>>();
  for (NodeId input : term_node.inputs)
    b.views->push_back(tensor_view(context.node(input), context.buffer(input), context.batch()));
  const std::vector<double>* params = &attributes.parameters;
  const uint64_t* step_seed = context.step_seed();
  const bool training = context.corrupting();
  // A plugin draws element i's randomness from (seed, i) with i counted within the tensor it is given, so
  // the shards of a data-parallel batch get seeds of their own: the same seed would repeat shard 0's noise
  // on every shard. Shard 0 (and one process) keeps the plain seed.
  const uint64_t shard_salt = uint64_t(context.shard_index()) * 0xD1B54A32D192ED03ull;
  auto views = b.views;
  const auto base_call = [=] {
    hg_term_call call{};
    call.host = plugin_host();
    call.params = params->data();
    call.num_inputs = int32_t(views->size());
    call.inputs = views->data();
    call.training = training ? 1 : 0;
    return call;
  };
  // The plan keeps the state with its kernels and drops it (calling destroy) when it goes.
  const TermRef* term = b.term;
  const SourceLocation& forward_location = term_node.location;
  b.state = context.shared_kernel<TermState>(
      forward, [&] { return create_term_state(*term, base_call(), forward_location); });
  void* state = b.state->get();
  b.make_call = [=] {
    hg_term_call call = base_call();
    call.seed = *step_seed ^ (uint64_t(forward) * 0x9E3779B97F4A7C15ull) ^ shard_salt;
    call.state = state;
    return call;
  };
  b.where = &n.location;
  return b;
}

class TermBackwardOp : public Op {
 public:
  const char* name() const override { return "term_backward"; }
  StepFunction bind(StepContext& context, NodeId id) const override {
    TermBinding b = bind_term(context, id);
    const auto& attributes = context.node(id).attributes_as<TermGradientAttributes>();
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    auto diffs = std::make_shared<std::vector<hg_tensor>>(*b.views);
    for (size_t i = 0; i < diffs->size(); ++i)
      (*diffs)[i].data = int(i) == attributes.input_index ? dst : nullptr;
    const float scale = float(attributes.scale * context.gradient_share());
    return [=] {
      std::memset(dst, 0, sizeof(float) * size_t(count));
      call_term_gradient(*b.term, b.make_call(), scale, diffs->data(), *b.where);
    };
  }
};
const TermBackwardOp term_backward;

class TermOp : public Op {
 public:
  const char* name() const override { return "term"; }
  OpRole role() const override { return OpRole::Term; }
  std::string describe(const Graph&, const Node& node) const override {
    return node.attributes_as<TermAttributes>().term;
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    TermBinding b = bind_term(context, id);
    double* value = context.value_slot(id);
    float* dst = context.buffer(id);
    return [=] {
      *value = call_term_value(*b.term, b.make_call(), *b.where);
      *dst = float(*value);
    };
  }
};

class CorruptBackwardOp : public Op {
 public:
  const char* name() const override { return "corrupt_backward"; }
  int arity() const override { return 2; }  // diff_dst, src
  StepFunction bind(StepContext& context, NodeId id) const override {
    TermBinding b = bind_term(context, id);
    const Node& n = context.node(id);
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    hg_tensor diff_dst = tensor_view(n, context.input(id, 0), context.batch());
    hg_tensor diff_src = tensor_view(n, dst, context.batch());
    return [=] {
      std::memset(dst, 0, sizeof(float) * size_t(count));
      hg_tensor d = diff_src;
      call_term_apply_gradient(*b.term, b.make_call(), &diff_dst, &d, *b.where);
    };
  }
};
const CorruptBackwardOp corrupt_backward;

// A corruption is active while training (and in PlanMode::Corrupted, to show what a denoising network is
// fed); in evaluation it is the identity and the plugin is not called.
class CorruptOp : public Op {
 public:
  const char* name() const override { return "corrupt"; }
  OpRole role() const override { return OpRole::Corrupt; }
  int arity() const override { return 1; }
  std::string describe(const Graph&, const Node& node) const override {
    return node.attributes_as<TermAttributes>().term;
  }
  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const NodeId src = context.node(id).inputs[0];
    context.input_gradient(corrupt_backward, id, 0, {gradient, src});
  }
  StepFunction bind(StepContext& context, NodeId id) const override {
    TermBinding b = bind_term(context, id);
    const Node& n = context.node(id);
    float* dst = context.buffer(id);
    const float* src = context.input(id, 0);
    const int64_t count = context.count(id);
    if (!context.corrupting()) return [=] { std::memcpy(dst, src, sizeof(float) * size_t(count)); };
    hg_tensor out = tensor_view(n, dst, context.batch());
    return [=] {
      hg_tensor o = out;
      call_term_apply(*b.term, b.make_call(), &o, *b.where);
    };
  }
  // Identity in evaluation, so the exported model needs no plugin.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    context.unary(id, "Identity", context.value(context.graph().node(id).inputs[0]), context.value(id));
  }
};

}  // namespace

void add_term_gradients(GradientContext& context, NodeId term, double weight) {
  const Node& t = context.node(term);
  const std::vector<NodeId> inputs = t.inputs;
  const auto& attributes = t.attributes_as<TermAttributes>();
  for (size_t j = 0; j < inputs.size(); ++j) {
    if (!context.needs(inputs[j])) continue;
    auto gradient = std::make_shared<TermGradientAttributes>();
    static_cast<TermAttributes&>(*gradient) = attributes;
    gradient->scale = weight;
    gradient->input_index = int(j);
    const std::string name = "d" + t.name + "/d" + context.node(inputs[j]).name;
    context.contribute(inputs[j], context.add(term_backward, term, inputs, inputs[j], name, gradient));
  }
}

const Op& term_op() {
  static const TermOp op;
  return op;
}
const Op& corrupt_op() {
  static const CorruptOp op;
  return op;
}

}  // namespace hg
