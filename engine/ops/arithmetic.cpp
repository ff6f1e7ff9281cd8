// Arithmetic on values: a + b, a - b, a * b, a / b (also callable as add, sub, mul, div), with a scalar
// constant on either side or a value broadcast over the other. Lowering sends the `+ - * /` of a graph file
// here by these op names (unary minus goes to neg, with the other unary math in ops/unary.cpp).
//   shapes: equal; or one side per-feature (unbatched, the other's dims) broadcast over the batch; or one
//           side per-channel ([C] or [C, 1, 1], batched or not) against [C, H, W] images, broadcast over
//           each channel's pixels; or one side of one element (per-sample [1], a scalar, a constant)
//           broadcast over the other's features.
//   gradient: the local derivative times the output's gradient, summed over whatever was broadcast.
#include <cmath>

#include "autodiff/gradient_context.h"
#include "ir/lower_context.h"
#include "ir/lower_util.h"
#include "ir/onnx.h"
#include "kernels/threading.h"
#include "plan/step_context.h"

namespace hg {
namespace {

// About this many elements per parallel chunk: below it, a thread's start costs more than the loop.
constexpr int64_t kGrain = 1 << 14;

int64_t rows_per_chunk(int64_t cols) {
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(cols, 1));
}

// ---- broadcasting -----------------------------------------------------------------------------------------

// An output is rows x cols (rows = the batch for a batched value, else 1). An operand's element for output
// element (r, c) is at r * row_stride + (c / inner) * col_stride: a stride of 0 is a broadcast along that
// axis, and inner > 1 repeats each element over `inner` consecutive columns (a channel's pixels).
struct Layout {
  int64_t row_stride = 0, col_stride = 0, inner = 1;
};

int64_t index_of(Layout l, int64_t r, int64_t c) {
  return r * l.row_stride + (l.inner == 1 ? c : c / l.inner) * l.col_stride;
}

// Lowering allows three kinds of operand besides the output's own shape: one element, which every column
// reads; or fewer elements that divide the output's, a channel's value that its H x W pixels read.
Layout layout_of(const Node& operand, const Node& output) {
  const int64_t elements = operand.elements_per_sample(), all = output.elements_per_sample();
  const int64_t row_stride = operand.batched ? elements : 0;
  if (elements == 1 && all > 1) return {row_stride, 0, 1};
  return {row_stride, 1, all / elements};
}

// dst (shaped like the operand) = the sum of local(r, c) over the output elements that read each of its
// elements. Each dst element is summed by one thread in a fixed order, so results do not depend on threads.
template <class Local>
void reduce_into(float* dst, Layout l, int64_t rows, int64_t cols, const Local& local) {
  if (l.inner > 1) {  // per channel: summed over its pixels, and over the batch when unbatched
    const int64_t channels = cols / l.inner;
    auto channel_sum = [&](int64_t r, int64_t channel) {
      double sum = 0;
      for (int64_t c = channel * l.inner; c < (channel + 1) * l.inner; ++c) sum += local(r, c);
      return sum;
    };
    if (l.row_stride == 0)
      parallel_for(0, channels, std::max<int64_t>(1, kGrain / std::max<int64_t>(rows * l.inner, 1)),
                   [&](int64_t b, int64_t e) {
                     for (int64_t channel = b; channel < e; ++channel) {
                       double sum = 0;
                       for (int64_t r = 0; r < rows; ++r) sum += channel_sum(r, channel);
                       dst[channel] = float(sum);
                     }
                   });
    else
      parallel_for(0, rows, rows_per_chunk(cols), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r)
          for (int64_t channel = 0; channel < channels; ++channel)
            dst[r * channels + channel] = float(channel_sum(r, channel));
      });
  } else if (l.row_stride == 0 && l.col_stride == 0) {
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) sum += local(r, c);
    dst[0] = float(sum);
  } else if (l.row_stride == 0) {  // per feature: summed over the batch
    parallel_for(0, cols, std::max<int64_t>(1, kGrain / std::max<int64_t>(rows, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t c = b; c < e; ++c) {
                     double sum = 0;
                     for (int64_t r = 0; r < rows; ++r) sum += local(r, c);
                     dst[c] = float(sum);
                   }
                 });
  } else if (l.col_stride == 0) {  // per sample: summed over the features
    parallel_for(0, rows, rows_per_chunk(cols), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        double sum = 0;
        for (int64_t c = 0; c < cols; ++c) sum += local(r, c);
        dst[r] = float(sum);
      }
    });
  } else {
    parallel_for(0, rows, rows_per_chunk(cols), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r)
        for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = local(r, c);
    });
  }
}

// ---- binary ops -------------------------------------------------------------------------------------------

enum class BinaryKind { Add, Sub, Mul, Div };

struct BinaryAttributes : Attributes {
  BinaryKind kind = BinaryKind::Add;
  bool has_constant = false;  // one side is a number; the node's only input is the other side
  bool constant_left = false;
  float constant = 0;
};

// The forward's operands as the kernels read them: a buffer, or the constant, with its layout.
struct Operands {
  const float* left;
  const float* right;
  Layout left_layout, right_layout;
  int64_t rows, cols;
};

struct BinaryKernel {
  float constant;  // the operand pointer of a constant side points here
  Operands operands;
};

std::shared_ptr<BinaryKernel> binary_kernel(StepContext& context, NodeId id) {
  const NodeId forward = context.forward_of(id);
  return context.shared_kernel<BinaryKernel>(forward, [&] {
    const Node& f = context.node(forward);
    const auto& a = f.attributes_as<BinaryAttributes>();
    auto k = std::make_shared<BinaryKernel>();
    k->constant = a.constant;
    Operands& o = k->operands;
    o.rows = f.batched ? context.batch() : 1;
    o.cols = f.elements_per_sample();
    const float* value = context.input(forward, 0);
    const Layout value_layout = layout_of(context.node(f.inputs[0]), f);
    if (!a.has_constant) {
      o.left = value;
      o.left_layout = value_layout;
      o.right = context.input(forward, 1);
      o.right_layout = layout_of(context.node(f.inputs[1]), f);
    } else {
      (a.constant_left ? o.left : o.right) = &k->constant;
      (a.constant_left ? o.right : o.left) = value;
      (a.constant_left ? o.right_layout : o.left_layout) = value_layout;
    }
    return k;
  });
}

// Row by row, in blocks of columns within which each operand's index moves by a fixed step: a channel's
// pixels when one side is per-channel (that side's step is 0 there), else the whole row.
template <class F>
void map_binary(const Operands& o, float* dst, const F& f) {
  const Layout &ll = o.left_layout, &rl = o.right_layout;
  const int64_t block = std::max(ll.inner, rl.inner) > 1 ? std::max(ll.inner, rl.inner) : o.cols;
  const int64_t left_step = ll.inner == 1 ? ll.col_stride : 0, right_step = rl.inner == 1 ? rl.col_stride : 0;
  parallel_for(0, o.rows, rows_per_chunk(o.cols), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      for (int64_t c0 = 0; c0 < o.cols; c0 += block) {
        const float* left = o.left + index_of(ll, r, c0);
        const float* right = o.right + index_of(rl, r, c0);
        float* out = dst + r * o.cols + c0;
        for (int64_t j = 0; j < block; ++j) out[j] = f(left[j * left_step], right[j * right_step]);
      }
  });
}

float at(const float* p, Layout l, int64_t r, int64_t c) {
  return p[index_of(l, r, c)];
}

// The gradient of one operand: which side (0 left, 1 right) and its layout, set per backward node.
struct OperandGradientAttributes : Attributes {
  int side = 0;
};

class BinaryBackwardOp : public Op {
 public:
  const char* name() const override { return "binary_backward"; }
  // diff_dst, then for * and / the forward's value inputs, which the local derivative reads.
  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = binary_kernel(context, id);
    const NodeId forward = context.forward_of(id);
    const BinaryKind kind = context.node(forward).attributes_as<BinaryAttributes>().kind;
    const int side = context.node(id).attributes_as<OperandGradientAttributes>().side;
    const float* diff_dst = context.input(id, 0);
    float* dst = context.buffer(id);
    const Operands o = k->operands;
    const Layout l = side == 0 ? o.left_layout : o.right_layout;
    switch (kind) {
      case BinaryKind::Add:
      case BinaryKind::Sub: {
        const float sign = kind == BinaryKind::Sub && side == 1 ? -1.f : 1.f;
        return [=] {
          reduce_into(dst, l, o.rows, o.cols,
                      [&](int64_t r, int64_t c) { return sign * diff_dst[r * o.cols + c]; });
        };
      }
      case BinaryKind::Mul:
        return [=] {
          const float* other = side == 0 ? o.right : o.left;
          const Layout ol = side == 0 ? o.right_layout : o.left_layout;
          reduce_into(dst, l, o.rows, o.cols,
                      [&](int64_t r, int64_t c) { return diff_dst[r * o.cols + c] * at(other, ol, r, c); });
        };
      case BinaryKind::Div:  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
        return [=] {
          reduce_into(dst, l, o.rows, o.cols, [&](int64_t r, int64_t c) {
            const float a = at(o.left, o.left_layout, r, c), b = at(o.right, o.right_layout, r, c);
            const float g = diff_dst[r * o.cols + c];
            return side == 0 ? g / b : -g * a / (b * b);
          });
        };
    }
    HG_ASSERT(false, "binary_backward: unknown kind");
    return {};
  }
} const binary_backward;

// [C, H, W] with more than one pixel per channel, and the two shapes a per-channel value may have.
bool is_image(const Node& v) {
  return v.dims.size() == 3 && v.dims[1] * v.dims[2] > 1;
}
bool per_channel_form(const Node& v) {
  return v.dims.size() == 1 || (v.dims.size() == 3 && v.dims[1] == 1 && v.dims[2] == 1);
}

// What `hourglass check` and messages call each kind.
struct BinaryInfo {
  const char* name;
  char symbol;
};
constexpr BinaryInfo kBinary[] = {{"add", '+'}, {"sub", '-'}, {"mul", '*'}, {"div", '/'}};

class BinaryOp : public Op {
 public:
  explicit BinaryOp(BinaryKind kind) : kind_(kind) {}
  const char* name() const override { return kBinary[int(kind_)].name; }
  bool callable() const override { return true; }

  void verify(const Graph& graph, const Node& n) const override {
    const auto& a = n.attributes_as<BinaryAttributes>();
    HG_ASSERT(n.inputs.size() == (a.has_constant ? 1u : 2u), n.name + ": operands");
  }
  std::string describe(const Graph&, const Node& n) const override {
    const auto& a = n.attributes_as<BinaryAttributes>();
    if (!a.has_constant) return name();
    char number[32];
    std::snprintf(number, sizeof number, "%.9g", double(a.constant));
    const std::string symbol(1, kBinary[int(kind_)].symbol);
    return a.constant_left ? std::string(number) + " " + symbol + " x" : "x " + symbol + " " + number;
  }

  // `a + b` (a Binary expression) or add(a, b) (a call): the two operands, each a value or a constant.
  NodeId lower(LowerContext& context, const ast::Expr& e) const override {
    const ast::Expr* operand[2] = {nullptr, nullptr};
    if (e.kind == ast::Expr::Kind::Binary) {
      operand[0] = e.lhs.get();
      operand[1] = e.rhs.get();
    } else {
      if (!check_arguments(e, 2, {}, context.sink())) return kNoNode;
      for (size_t i = 0; i < 2; ++i)
        if (const ast::Arg* arg = positional(e, i)) operand[i] = arg->value.get();
      if (!operand[1]) {
        context.sink().error(e.location, std::string("op '") + name() + "' expects 2 inputs, got " +
                                             std::to_string(operand[0] ? 1 : 0));
        return kNoNode;
      }
    }
    const std::string text = "'" + ast::to_string(*operand[0]) + " " + kBinary[int(kind_)].symbol + " " +
                             ast::to_string(*operand[1]) + "'";
    std::optional<double> constant[2];
    for (int i = 0; i < 2; ++i) {
      DiagnosticSink quiet;  // not a number: a value, lowered below
      constant[i] = constant_value(*operand[i], quiet);
    }
    if (constant[0] && constant[1]) {
      context.sink().error(e.location,
                           text + " is a number, not a value; arithmetic needs at least one value");
      return kNoNode;
    }
    auto attributes = std::make_shared<BinaryAttributes>();
    attributes->kind = kind_;
    if (constant[0] || constant[1]) {
      const int side = constant[0] ? 1 : 0;  // the value's side
      const double c = *constant[1 - side];
      if (kind_ == BinaryKind::Div && side == 0 && c == 0) {
        context.sink().error(operand[1]->location, "division by zero");
        return kNoNode;
      }
      const NodeId value = context.lower_value(*operand[side]);
      if (value == kNoNode) return kNoNode;
      const Node& v = context.graph().node(value);
      attributes->has_constant = true;
      attributes->constant_left = side == 1;
      attributes->constant = float(c);
      return context.add_node(*this, e.location, {value}, v.dims, v.batched, attributes);
    }
    const NodeId left = context.lower_value(*operand[0]);
    const NodeId right = context.lower_value(*operand[1]);
    if (left == kNoNode || right == kNoNode) return kNoNode;
    const Node &a = context.graph().node(left), &b = context.graph().node(right);
    const int64_t ea = a.elements_per_sample(), eb = b.elements_per_sample();
    if (ea != eb && ea != 1 && eb != 1) {
      const std::string sa = ast::to_string(*operand[0]), sb = ast::to_string(*operand[1]);
      std::string problem =
          "arithmetic needs equal shapes, a per-feature value, a per-channel [C] value against "
          "[C, H, W] images or a single number per sample";
      // [C, H, W] images against a value of the per-channel form ([C] or [C, 1, 1]): per channel when C
      // agrees.
      const bool a_image = is_image(a) && per_channel_form(b), b_image = is_image(b) && per_channel_form(a);
      if (a_image || b_image) {
        const Node &image = a_image ? a : b, &channel = a_image ? b : a;
        const int64_t c = image.dims[0];
        if (channel.dims[0] == c) {
          return context.add_node(*this, e.location, {left, right}, image.dims, a.batched || b.batched,
                                  attributes);
        }
        problem = "a per-channel value against '" + (a_image ? sa : sb) +
                  "' needs one number per channel: [" + std::to_string(c) + "] or [" + std::to_string(c) +
                  ", 1, 1]";
      }
      Diagnostic& d = context.sink().error(
          e.location, text + ": '" + sa + "' is " + shape_string(a.dims, a.batched) + " and '" + sb +
                          "' is " + shape_string(b.dims, b.batched) + "; " + problem);
      // A named operand points at its statement, a nested expression at itself.
      d.notes.push_back({Severity::Note, context.definition_of(a), "'" + sa + "' is defined here", {}});
      d.notes.push_back({Severity::Note, context.definition_of(b), "'" + sb + "' is defined here", {}});
      return kNoNode;
    }
    if (ea == eb && a.dims != b.dims && ea != 1) {
      context.sink().error(
          e.location, text + ": '" + ast::to_string(*operand[0]) + "' is " + shape_string(a.dims, a.batched) +
                          " and '" + ast::to_string(*operand[1]) + "' is " + shape_string(b.dims, b.batched) +
                          "; reshape one of them so that their dims agree");
      return kNoNode;
    }
    // The output has the shape of the side with more elements (or more dims, between single numbers).
    const bool left_shapes = ea > eb || (ea == eb && a.dims.size() >= b.dims.size());
    return context.add_node(*this, e.location, {left, right}, left_shapes ? a.dims : b.dims,
                            a.batched || b.batched, attributes);
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    const Node n = context.node(id);  // a copy: adding backward nodes may move the graph's nodes
    const auto& a = n.attributes_as<BinaryAttributes>();
    const bool reads_operands = kind_ == BinaryKind::Mul || kind_ == BinaryKind::Div;
    std::vector<NodeId> inputs = {gradient};
    if (reads_operands) inputs.insert(inputs.end(), n.inputs.begin(), n.inputs.end());
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      auto side = std::make_shared<OperandGradientAttributes>();
      side->side = a.has_constant ? (a.constant_left ? 1 : 0) : int(i);
      context.input_gradient(binary_backward, id, i, inputs, side);
    }
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    auto k = binary_kernel(context, id);
    float* dst = context.buffer(id);
    switch (kind_) {
      case BinaryKind::Add:
        return [k, dst] { map_binary(k->operands, dst, [](float a, float b) { return a + b; }); };
      case BinaryKind::Sub:
        return [k, dst] { map_binary(k->operands, dst, [](float a, float b) { return a - b; }); };
      case BinaryKind::Mul:
        return [k, dst] { map_binary(k->operands, dst, [](float a, float b) { return a * b; }); };
      case BinaryKind::Div:
        return [k, dst] { map_binary(k->operands, dst, [](float a, float b) { return a / b; }); };
    }
    HG_ASSERT(false, "binary: unknown kind");
    return {};
  }

  // Add, Sub, Mul, Div, with a constant as a scalar initializer. ONNX broadcasts as numpy does, aligning
  // trailing dims, which agrees with the rules above except for a single number that is not shaped like
  // the output: that becomes [N, 1, ..., 1] (or a scalar, when unbatched) first, so that it spreads over
  // every element of a sample rather than along its last axis; and a per-channel [C], which becomes
  // [C, 1, 1] ([N, C, 1, 1] when batched) so that it meets the channel axis rather than the width.
  void export_onnx(OnnxContext& context, NodeId id) const override {
    static const char* const kTypes[] = {"Add", "Sub", "Mul", "Div"};
    const Node& n = context.graph().node(id);
    const auto& a = n.attributes_as<BinaryAttributes>();
    std::vector<std::string> operands;
    for (NodeId input : n.inputs) {
      const Node& v = context.graph().node(input);
      const int64_t elements = v.elements_per_sample();
      if (elements != 1 && v.dims.size() == 1 && n.dims.size() == 3 && v.dims[0] == n.dims[0] &&
          elements != n.elements_per_sample()) {  // per channel: [C] as [C, 1, 1], to align with the channels
        std::vector<int64_t> shape = {v.dims[0], 1, 1};
        if (v.batched) shape.insert(shape.begin(), -1);
        operands.push_back(
            context.reshape(id, context.value(input), shape, context.temporary(id, "channels")));
        continue;
      }
      if (elements != 1 || v.dims == n.dims) {  // also [C, 1, 1], which ONNX aligns with the channels
        operands.push_back(context.value(input));
        continue;
      }
      std::vector<int64_t> shape;
      if (v.batched) {
        shape.assign(n.dims.size() + 1, 1);
        shape[0] = -1;
      }
      operands.push_back(context.reshape(id, context.value(input), shape, context.temporary(id, "spread")));
    }
    if (a.has_constant)
      operands.insert(a.constant_left ? operands.begin() : operands.end(),
                      context.constant(id, "constant", {}, {a.constant}));
    context.add(id, kTypes[int(kind_)], operands, {context.value(id)});
  }

 private:
  BinaryKind kind_;
};

}  // namespace

const Op& add_op() {
  static const BinaryOp op(BinaryKind::Add);
  return op;
}
const Op& sub_op() {
  static const BinaryOp op(BinaryKind::Sub);
  return op;
}
const Op& mul_op() {
  static const BinaryOp op(BinaryKind::Mul);
  return op;
}
const Op& div_op() {
  static const BinaryOp op(BinaryKind::Div);
  return op;
}

}  // namespace hg
