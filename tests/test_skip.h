// Tests that cannot run here (no MNIST, no numpy, a sanitizer that owns malloc) say so as CTest "skipped"
// rather than passing without having checked anything: skip_test records the reason, and the suite's
// main returns kSkipReturnCode for a single-test-case run in which something was skipped and nothing failed.
#pragma once

#include <string>

namespace hg::test {

constexpr int kSkipReturnCode = 77;  // tests/CMakeLists.txt gives CTest the same SKIP_RETURN_CODE

// Prints why and marks the running test case as skipped; the caller then returns from the test.
void skip_test(const std::string& reason);

}  // namespace hg::test
