// Binds each op to its kernel for one plan: creates the kernel objects (oneDNN primitives) once and returns
// a closure that runs one step with pointers fixed at plan time. Adding an op means one case here.
#pragma once

#include "plan/plan.h"

namespace hg {

struct StepBuilder {
  Plan& plan;
  bool has_step(const Node& node) const;
  std::function<void()> build(NodeId id);

 private:
  template <class K>
  std::shared_ptr<K> shared_kernel(NodeId forward, std::function<std::shared_ptr<K>()> make, int variant = 0);
  std::function<void()> build_spatial(NodeId id);
  std::function<void()> build_term(NodeId id);
};

}  // namespace hg
