// Test helper: `--max-memory TEXT` for one scope, cleared afterwards, so that the process-wide memory
// budget (support/memory_budget.h) does not leak into the next test case of the same executable.
#pragma once

#include <string>

#include "support/memory_budget.h"

namespace hg::test {

struct MaxMemory {
  explicit MaxMemory(const std::string& text) {
    set_max_memory(parse_memory_size(text).value(), "--max-memory " + text);
  }
  ~MaxMemory() { clear_max_memory(); }
  MaxMemory(const MaxMemory&) = delete;
  MaxMemory& operator=(const MaxMemory&) = delete;
};

}  // namespace hg::test
