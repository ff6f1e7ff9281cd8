// The memory budget: sizes as --max-memory takes them, reservations held and given back, refusals that
// name the place, both sizes and the flag, and where the budget comes from (--max-memory, then
// $HOURGLASS_MAX_MEMORY, then the memory the machine has available).
#include <doctest/doctest.h>
#include <stdlib.h>

#include <cmath>

#include "max_memory_guard.h"
#include "support/memory_budget.h"

using namespace hg;

namespace {

std::string refusal_of(double bytes, const std::string& needs, const std::string& detail = "") {
  try {
    reserve_memory(bytes, {"data/big.idx", 0, 0}, needs, detail);
  } catch (const MemoryError& e) {
    return e.what();
  }
  return "(no error)";
}

// $HOURGLASS_MAX_MEMORY for one scope.
struct Environment {
  explicit Environment(const char* value) { setenv("HOURGLASS_MAX_MEMORY", value, 1); }
  ~Environment() { unsetenv("HOURGLASS_MAX_MEMORY"); }
};

}  // namespace

TEST_CASE("memory sizes: bytes, or K, M, G, T as powers of 1024, with fractions and optional B or iB") {
  CHECK(parse_memory_size("512M") == uint64_t(512) << 20);
  CHECK(parse_memory_size("4G") == uint64_t(4) << 30);
  CHECK(parse_memory_size("1.5G") == uint64_t(3) << 29);
  CHECK(parse_memory_size("100") == 100u);
  CHECK(parse_memory_size("100B") == 100u);
  CHECK(parse_memory_size("64k") == 65536u);
  CHECK(parse_memory_size("4GiB") == uint64_t(4) << 30);
  CHECK(parse_memory_size("100MB") == uint64_t(100) << 20);
  CHECK(parse_memory_size("2t") == uint64_t(2) << 40);
  CHECK(parse_memory_size(".5K") == 512u);
  for (const char* bad : {"", "M", "10X", "-5", "0", "0M", "0.1", "1e9", " 5M", "5 M", "5M ", "1.5.5G", "5MM",
                          "5Mi", "nan", "inf", "2000000000T"})
    CHECK_MESSAGE(!parse_memory_size(bad), bad);
}

TEST_CASE("memory sizes read back in binary units") {
  CHECK(memory_size_text(100) == "100 bytes");
  CHECK(memory_size_text(1536) == "1.5 KiB");
  CHECK(memory_size_text(45.0 * (1 << 20)) == "45.0 MiB");
  CHECK(memory_size_text(1.5 * (1 << 30)) == "1.50 GiB");
  CHECK(memory_size_text(9.42e12) == "8.6 TiB");
}

TEST_CASE("--max-memory is a total: reservations hold it until released, and a refusal says what is left") {
  test::MaxMemory budget("10M");
  CHECK(memory_budget().total);
  CHECK(memory_budget().bytes == 10 << 20);
  REQUIRE(memory_held() == 0);
  const uint64_t before = 0;
  {
    MemoryCharge parameters = reserve_memory(4 << 20, {"test.graph", 2, 5}, "the parameters need");
    CHECK(parameters.bytes() == 4u << 20);
    CHECK(memory_held() == before + (4 << 20));
    CHECK(memory_left() == double((6 << 20) - before));
    // 7 MiB fit the budget alone, but not beside the 4 MiB held.
    CHECK(refusal_of(7 << 20, "loading 7 samples needs", "the largest is 1 MiB") ==
          "data/big.idx: error: loading 7 samples needs 7.0 MiB, more than the 6.0 MiB left of the memory "
          "budget of 10.0 MiB (--max-memory 10M) after the 4.0 MiB already held; the largest is 1 MiB");
    MemoryCharge moved = std::move(parameters);
    CHECK(memory_held() == before + (4 << 20));
    moved.shrink_to(1 << 20);
    CHECK(memory_held() == before + (1 << 20));
    moved.add(2 << 20, {"x", 0, 0}, "more needs");
    CHECK(moved.bytes() == 3u << 20);
  }
  CHECK(memory_held() == before);
  CHECK(refusal_of(11 << 20, "loading it needs") ==
        "data/big.idx: error: loading it needs 11.0 MiB, more than the memory budget of 10.0 MiB "
        "(--max-memory 10M)");
  CHECK(refusal_of(std::nan(""), "nothing needs").find("more than the memory budget") != std::string::npos);
  CHECK_THROWS_AS(check_memory(11 << 20, {"x", 0, 0}, "it needs"), MemoryError);
  check_memory(10 << 20, {"x", 0, 0}, "it needs");  // a passing check holds nothing
  CHECK(memory_held() == before);
  CHECK(memory_refusal(11 << 20, "it needs").has_value());
  CHECK_FALSE(memory_refusal(1 << 20, "it needs").has_value());
}

TEST_CASE("the budget comes from --max-memory, else $HOURGLASS_MAX_MEMORY, else the available memory") {
  unsetenv("HOURGLASS_MAX_MEMORY");
  MemoryBudget machine = memory_budget();
  CHECK_FALSE(machine.total);
  CHECK(machine.bytes > 0);
  CHECK(refusal_of(1e18, "it needs")
            .find(" of memory this machine has available (MemAvailable in "
                  "/proc/meminfo); --max-memory SIZE sets a budget instead") != std::string::npos);
  {
    Environment environment("1M");
    CHECK(memory_budget().total);
    CHECK(memory_budget().bytes == 1 << 20);
    CHECK(refusal_of(2 << 20, "it needs") ==
          "data/big.idx: error: it needs 2.0 MiB, more than the memory budget of 1.0 MiB "
          "($HOURGLASS_MAX_MEMORY=1M, which --max-memory overrides)");
    test::MaxMemory flag("3M");
    CHECK(memory_budget().bytes == 3 << 20);
    CHECK(refusal_of(2 << 20, "it needs") == "(no error)");
  }
  Environment broken("lots");
  try {
    memory_budget();
    FAIL("a bad $HOURGLASS_MAX_MEMORY was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) ==
          "$HOURGLASS_MAX_MEMORY: error: 'lots' is not a memory size: give bytes, or a number with K, M, G "
          "or T "
          "(512M, 1.5G)");
  }
}
