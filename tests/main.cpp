// The doctest entry point for the whole suite. Besides running doctest, it turns a skipped test case into
// CTest's skip return code (test_skip.h), since CTest runs each test case as a process of its own.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>

#include "test_skip.h"

namespace {
int skipped = 0;
}

void hg::test::skip_test(const std::string& reason) {
  ++skipped;
  std::printf("SKIPPED: %s\n", reason.c_str());
  std::fflush(stdout);
}

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  const int result = context.run();
  if (context.shouldExit()) return result;
  // Only when the run was one test case (as CTest runs them): a whole-binary run with a skip still passes.
  bool one_case = false;
  for (int i = 1; i < argc; ++i)
    one_case |= std::strncmp(argv[i], "--test-case=", 12) == 0 || std::strncmp(argv[i], "-tc=", 4) == 0;
  if (result == 0 && skipped > 0 && one_case) return hg::test::kSkipReturnCode;
  return result;
}
