// What the MPI and the single-process builds share: the launcher's process count and the weight hash.
#include "runtime/distributed.h"

#include <cstdlib>
#include <cstring>
#include <string>

namespace hg {

int launched_processes() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; MPICH's and Intel MPI's launchers set PMI_SIZE.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* value = std::getenv(name)) {
      const int n = std::atoi(value);
      if (n > 0) return n;
    }
  return 1;
}

uint64_t hash_floats(const float* data, int64_t count) {
  uint64_t hash = 0xcbf29ce484222325ull;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data);
  for (int64_t i = 0; i < count * int64_t(sizeof(float)); ++i) hash = (hash ^ bytes[i]) * 0x100000001b3ull;
  return hash;
}

}  // namespace hg
