// The process group of a build without MPI: always this process alone. Started by mpirun as one of several
// processes, it refuses to run rather than have each process train the whole model on its own and all
// write the same files.
#include <cstdio>
#include <cstdlib>

#include "runtime/distributed.h"
#include "support/diagnostics.h"

namespace hg {

ProcessGroup& process_group() {
  static SoloGroup group;
  return group;
}

void init_process_group() {
  const int processes = launched_processes();
  if (processes > 1)
    throw Error({"mpirun", 0, 0},
                "started as one of " + std::to_string(processes) +
                    " MPI processes, but this hourglass was built without MPI, so each would train alone; "
                    "install Open MPI (Debian: apt-get install libopenmpi-dev openmpi-bin) and rebuild "
                    "(cmake -DHOURGLASS_MPI=ON), or run without mpirun");
}

void abort_process_group(int code) {
  std::fflush(stdout);
  std::exit(code);
}

void finish_process_group() {}

}  // namespace hg
