// Weight transfer between graphs (`train --init CKPT --map 'enc1.*->fc1.*'`): which checkpoint tensor
// initializes which graph parameter. Rules have one `*` per side (or none) and the source's `*` text fills
// the target's; without rules every checkpoint tensor initializes the parameter of the same name. Planning
// is pure (names and shapes in, a plan or an hg::Error naming both sides out), so it is tested without files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace hg {

struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};

struct MapRule {
  std::string text;            // as the user wrote it, for messages
  std::string source, target;  // globs with at most one `*` each, both or neither
};

// Parses "source->target"; a malformed rule is an hg::Error at "--map 'text'".
MapRule parse_map_rule(const std::string& text);

struct TransferPlan {
  struct Load {
    std::string source, target;
    std::vector<int64_t> shape;
  };
  std::vector<Load> loads;             // in the graph's parameter order
  std::vector<std::string> untouched;  // graph parameters no tensor initializes
  std::vector<std::string> notes;      // about the file itself (one without a data checksum)
};

// `stored` are the checkpoint's tensors (optimizer state is never transferred), `parameters` the graph's.
// Errors: a rule whose source matches no tensor, a target the graph lacks, a shape mismatch, two sources
// for one target, and (without rules) no tensor sharing a name with a parameter.
TransferPlan plan_transfer(const std::string& checkpoint_path, const std::vector<NamedShape>& stored,
                           const std::vector<NamedShape>& parameters, const std::vector<MapRule>& rules);

// Opens the checkpoint, plans and copies the values into the model's parameters; returns the plan.
TransferPlan initialize_from(const std::string& checkpoint_path, Model& model,
                             const std::vector<MapRule>& rules);

}  // namespace hg
