// The process group of a build with MPI: this process alone, unless mpirun started it as one of several;
// then the MPI module (lib/hourglass/hourglass_mpi.so, runtime/distributed/mpi.cpp) is loaded and joins
// the job. Loading it only then keeps Open MPI out of every other run's start-up (about 3 ms).
#include <cstdio>
#include <cstdlib>

#include "plugin/modules.h"
#include "runtime/distributed.h"

namespace hg {
namespace {

SoloGroup solo;
ProcessGroup* world = nullptr;  // owned by the module

template <class Function>
Function entry(const char* name) {
  // Global: Open MPI's own components, which it loads itself, bind to libmpi's symbols.
  return reinterpret_cast<Function>(
      module_symbol("hourglass_mpi.so", name, "running as one of several MPI processes", true));
}

}  // namespace

ProcessGroup& process_group() {
  return world ? *world : solo;
}

void init_process_group() {
  if (world || launched_processes() <= 1) return;
  world = entry<ProcessGroup* (*)()>("hourglass_mpi_init")();
}

void abort_process_group(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (world) entry<void (*)(int)>("hourglass_mpi_abort")(code);
  std::exit(code);
}

void finish_process_group() {
  if (!world) return;
  world = nullptr;
  entry<void (*)()>("hourglass_mpi_finish")();
}

}  // namespace hg
