// What the IR knows of an op: an interface, and the table that lists every op. An op's implementation (its
// typed attributes, shape rule, gradient rule and kernel binding) lives in one file under engine/ops/; the
// passes below reach it only through this interface, so the IR depends on no layer above it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace hg {

using NodeId = int32_t;
struct Graph;
struct Node;
namespace ast {
struct Expr;
}
class LowerContext;     // ir/lower_context.h: what a shape rule may use
class GradientContext;  // autodiff/gradient_context.h: what a gradient rule may use
class StepContext;      // plan/step_context.h: what a kernel binding may use
class OnnxContext;      // ir/onnx.h: what an ONNX mapping may use
using StepFunction = std::function<void()>;

// The part a node plays for the passes that treat some nodes specially. Every math op is Compute.
enum class OpRole {
  Input,          // a batch from the data pipeline (InputAttributes)
  Parameter,      // a trained tensor (ParameterAttributes)
  Compute,        // any op with a kernel
  Term,           // a plugin loss or regularizer term, scalar (TermAttributes)
  Corrupt,        // a plugin corruption (TermAttributes); identity in evaluation
  Objective,      // the weighted sum that training minimizes (ObjectiveAttributes)
  GradientSum,    // the sum of several gradients of one value
  OptimizerStep,  // updates every trained parameter in place
};

// Per-op settings: each op defines its own struct deriving from this (DenseAttributes, PoolAttributes...).
struct Attributes {
  virtual ~Attributes() = default;
};

class Op {
 public:
  virtual ~Op() = default;
  // The name a graph file calls it by ("dense", "relu") or, for ops no file can call, its role in messages
  // and profiles ("dense_backward_data").
  virtual const char* name() const = 0;
  virtual OpRole role() const { return OpRole::Compute; }
  // Whether a graph file may call it by name().
  virtual bool callable() const { return false; }
  // The shape rule: checks the call's arguments (reporting each mistake at its place through the context),
  // lowers the inputs, creates parameters, infers the output shape and adds the node. kNoNode after an error.
  virtual NodeId lower(LowerContext& context, const ast::Expr& call) const;
  // The gradient rule: given the node's gradient, adds the nodes that compute its inputs' gradients.
  virtual void differentiate(GradientContext& context, NodeId node, NodeId gradient) const;
  // The kernel binding: creates kernel objects (oneDNN primitives) once, returns the step that runs them.
  virtual StepFunction bind(StepContext& context, NodeId node) const = 0;
  // The ONNX mapping: adds the ONNX nodes that compute the node's value in evaluation (ir/onnx.h). The
  // default throws an hg::Error at the node's place saying that its op cannot be exported.
  virtual void export_onnx(OnnxContext& context, NodeId node) const;
  // Inputs a node of this op takes; -1 for any number.
  virtual int arity() const { return -1; }
  // Invariants a correct lowering guarantees; a failure is a bug in hourglass (HG_ASSERT).
  virtual void verify(const Graph& graph, const Node& node) const {}
  // What `hourglass check` shows for the node, e.g. "dense(500, tied)".
  virtual std::string describe(const Graph& graph, const Node& node) const { return name(); }
  // Activation fusion: an elementwise op whose only input is produced by an op that takes_fused_activation()
  // is computed in that op's pass (a oneDNN post-op), and its own step does nothing.
  virtual bool fusable_activation(const Node& node) const { return false; }
  virtual bool takes_fused_activation() const { return false; }
};

// Every op hourglass knows, listed once (ops/table.cpp). The structural ops are found by role.
class OpTable {
 public:
  explicit OpTable(std::vector<const Op*> ops);
  const Op* find(const std::string& callee) const;  // a callable op by name; nullptr when unknown
  const Op& of_role(OpRole role) const;             // the one op of a structural role
  std::vector<std::string> callees() const;         // every callable name, for "did you mean"
  const std::vector<const Op*>& ops() const { return ops_; }

 private:
  std::vector<const Op*> ops_;
};

}  // namespace hg
