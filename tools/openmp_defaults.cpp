// The runner's OpenMP defaults without re-executing itself. OpenMP threads that spin after each oneDNN call
// make an epoch several times slower as soon as another process wants a core, and threads that sleep at once
// must be woken (about 70 µs here) for each of a step's parallel regions. So idle threads spin briefly
// (GOMP_SPINCOUNT 1000, some 30 µs, long enough to catch the next region of the same step) and then sleep
// (OMP_WAIT_POLICY passive), unless the user set OMP_WAIT_POLICY (docs/threading.md).
//
// libgomp reads its variables through getenv in its constructor, which runs before any code of ours: a
// setenv in main or in a constructor of this executable comes too late. The runner therefore defines getenv
// itself (exported from the executable, so it wins over libc's for every library), answering from the
// environment as libc does and supplying the two defaults only where OMP_WAIT_POLICY is unset. Before, the
// runner re-executed itself with the variables set, which loaded every library twice (docs/performance.md).
// Processes the runner starts see the real environment.
#include <unistd.h>

#include <cstring>

namespace {

const char* from_environment(const char* name) {
  if (!name || !environ) return nullptr;
  const size_t length = std::strlen(name);
  for (char** entry = environ; *entry; ++entry)
    if (std::strncmp(*entry, name, length) == 0 && (*entry)[length] == '=') return *entry + length + 1;
  return nullptr;
}

}  // namespace

extern "C" char* getenv(const char* name) noexcept {
  if (const char* value = from_environment(name)) return const_cast<char*>(value);
  if (!name || from_environment("OMP_WAIT_POLICY")) return nullptr;
  if (std::strcmp(name, "OMP_WAIT_POLICY") == 0) return const_cast<char*>("passive");
  if (std::strcmp(name, "GOMP_SPINCOUNT") == 0) return const_cast<char*>("1000");
  return nullptr;
}
