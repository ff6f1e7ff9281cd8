// The unary math ops: neg (-x, which lowering sends here), exp, log, sqrt, square and abs.
//   shapes: those of the input, batched or not.
//   gradient: the local derivative (from the input x and the output y) times the output's gradient.
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

enum class UnaryKind { Neg, Exp, Log, Sqrt, Square, Abs };
constexpr const char* kUnaryNames[] = {"neg", "exp", "log", "sqrt", "square", "abs"};

// d/dx, from x, y = f(x) and the output's gradient g.
float unary_derivative(UnaryKind kind, float x, float y, float g) {
  switch (kind) {
    case UnaryKind::Neg:
      return -g;
    case UnaryKind::Exp:
      return g * y;
    case UnaryKind::Log:
      return g / x;
    case UnaryKind::Sqrt:
      return g / (2 * y);
    case UnaryKind::Square:
      return 2 * x * g;
    case UnaryKind::Abs:  // 0 at 0, as PyTorch's sign
      return x > 0 ? g : x < 0 ? -g : 0.f;
  }
  return 0;
}

template <class F>
StepFunction map_unary(const float* src, float* dst, int64_t count, F f) {
  return [=] {
    parallel_for(0, count, kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) dst[i] = f(src[i]);
    });
  };
}

struct UnaryAttributes : Attributes {
  UnaryKind kind = UnaryKind::Neg;
};

class UnaryBackwardOp : public Op {
 public:
  const char* name() const override { return "unary_backward"; }
  int arity() const override { return 3; }  // diff_dst, the forward's src and dst
  StepFunction bind(StepContext& context, NodeId id) const override {
    const UnaryKind kind = context.node(id).attributes_as<UnaryAttributes>().kind;
    const float *g = context.input(id, 0), *x = context.input(id, 1), *y = context.input(id, 2);
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    return [=] {
      parallel_for(0, count, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) dst[i] = unary_derivative(kind, x[i], y[i], g[i]);
      });
    };
  }
} const unary_backward;

class UnaryOp : public Op {
 public:
  explicit UnaryOp(UnaryKind kind) : kind_(kind) {}
  const char* name() const override { return kUnaryNames[int(kind_)]; }
  bool callable() const override { return true; }
  int arity() const override { return 1; }

  // exp(x), or `-x` (a Negate expression) for neg: the shape of its input, batched or not.
  NodeId lower(LowerContext& context, const ast::Expr& e) const override {
    const ast::Expr* operand = nullptr;
    if (e.kind == ast::Expr::Kind::Negate) {
      operand = e.lhs.get();
    } else {
      if (!check_arguments(e, 1, {}, context.sink())) return kNoNode;
      if (const ast::Arg* arg = positional(e, 0)) operand = arg->value.get();
      if (!operand) {
        context.sink().error(e.location, std::string("op '") + name() + "' expects 1 input, got 0");
        return kNoNode;
      }
    }
    DiagnosticSink quiet;
    if (constant_value(*operand, quiet)) {
      context.sink().error(e.location, "'" + ast::to_string(e) + "' is a number, not a value; " + name() +
                                           " needs a value such as a name or an op call");
      return kNoNode;
    }
    const NodeId input = context.lower_value(*operand);
    if (input == kNoNode) return kNoNode;
    const Node& src = context.graph().node(input);
    auto attributes = std::make_shared<UnaryAttributes>();
    attributes->kind = kind_;
    return context.add_node(*this, e.location, {input}, src.dims, src.batched, attributes);
  }

  void differentiate(GradientContext& context, NodeId id, NodeId gradient) const override {
    context.input_gradient(unary_backward, id, 0, {gradient, context.node(id).inputs[0], id});
  }

  StepFunction bind(StepContext& context, NodeId id) const override {
    const float* src = context.input(id, 0);
    float* dst = context.buffer(id);
    const int64_t count = context.count(id);
    switch (kind_) {
      case UnaryKind::Neg:
        return map_unary(src, dst, count, [](float x) { return -x; });
      case UnaryKind::Exp:
        return map_unary(src, dst, count, [](float x) { return std::exp(x); });
      case UnaryKind::Log:
        return map_unary(src, dst, count, [](float x) { return std::log(x); });
      case UnaryKind::Sqrt:
        return map_unary(src, dst, count, [](float x) { return std::sqrt(x); });
      case UnaryKind::Square:
        return map_unary(src, dst, count, [](float x) { return x * x; });
      case UnaryKind::Abs:
        return map_unary(src, dst, count, [](float x) { return std::fabs(x); });
    }
    HG_ASSERT(false, "unary: unknown kind");
    return {};
  }

  void export_onnx(OnnxContext& context, NodeId id) const override {
    static const char* const kTypes[] = {"Neg", "Exp", "Log", "Sqrt", "", "Abs"};
    const std::string x = context.value(context.graph().node(id).inputs[0]);
    if (kind_ == UnaryKind::Square)
      context.add(id, "Mul", {x, x}, {context.value(id)});
    else
      context.unary(id, kTypes[int(kind_)], x, context.value(id));
  }

 private:
  UnaryKind kind_;
};

}  // namespace

const Op& neg_op() {
  static const UnaryOp op(UnaryKind::Neg);
  return op;
}
const Op& exp_op() {
  static const UnaryOp op(UnaryKind::Exp);
  return op;
}
const Op& log_op() {
  static const UnaryOp op(UnaryKind::Log);
  return op;
}
const Op& sqrt_op() {
  static const UnaryOp op(UnaryKind::Sqrt);
  return op;
}
const Op& square_op() {
  static const UnaryOp op(UnaryKind::Square);
  return op;
}
const Op& abs_op() {
  static const UnaryOp op(UnaryKind::Abs);
  return op;
}

}  // namespace hg
