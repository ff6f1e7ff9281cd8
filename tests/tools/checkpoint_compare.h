// Test helper shared by the runner tests that compare two runs: same tensors bit for bit, same metadata.
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "runtime/checkpoint.h"

namespace hg::test {

// Two checkpoints hold the same tensors, bit for bit, and the same metadata but for `ignored` keys.
inline void check_same_checkpoint(const std::string& a, const std::string& b,
                                  const std::vector<std::string>& ignored) {
  const hg::CheckpointFile x(a), y(b);
  std::map<std::string, std::string> mx = x.metadata(), my = y.metadata();
  for (const std::string& key : ignored) {
    mx.erase(key);
    my.erase(key);
  }
  CHECK_MESSAGE(mx == my, a << " and " << b);
  REQUIRE(x.tensors().size() == y.tensors().size());
  for (const hg::StoredTensor& t : x.tensors()) {
    const hg::StoredTensor* u = y.find(t.name);
    REQUIRE_MESSAGE(u != nullptr, t.name);
    std::vector<float> vx(size_t(t.end - t.begin) / 4), vy(vx.size());
    x.read(t.name, t.shape, vx.data(), "");
    y.read(t.name, t.shape, vy.data(), "");
    CHECK_MESSAGE(std::memcmp(vx.data(), vy.data(), vx.size() * 4) == 0, a << ": " << t.name);
  }
}

}  // namespace hg::test
