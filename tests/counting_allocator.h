// A counting allocator for tests that assert a steady state allocates nothing: linking counting_allocator.cpp
// into a test executable replaces malloc and friends for its whole process, so every heap allocation on any
// thread is counted while a window is open and attributed, by its backtrace, to oneDNN (a frame inside
// libdnnl) or to everything else (hourglass, TBB, OpenMP, plugins, libstdc++). Such a test is an executable
// of its own.
//
// oneDNN 2.6 still mallocs inside dnnl_primitive_execute (its argument map, and the jit gemm's per-call
// packing buffers), which hourglass cannot avoid without patching oneDNN; tests report those and assert
// that everything outside oneDNN is zero.
#pragma once

#include <cstdint>
#include <functional>

#if defined(__SANITIZE_ADDRESS__)
#define HG_COUNTING_ALLOCATOR 0  // ASan owns malloc; replacing it would break ASan
#else
#define HG_COUNTING_ALLOCATOR 1
#endif

namespace hg::test {

struct AllocationCounts {
  int64_t inside_dnnl = 0, outside_dnnl = 0;
};

// Counts what `body` allocates. libdnnl must be loaded already (a failed doctest REQUIRE otherwise). The
// backtraces of the first few allocations outside oneDNN are kept for print_first_allocations.
AllocationCounts count_allocations(const std::function<void()>& body);
// Prints the kept backtraces of up to the first few of `outside` allocations outside oneDNN to stderr.
void print_first_allocations(int64_t outside);
// Whether TBB allocates through malloc (where it can be counted) rather than libtbbmalloc's mmap.
bool tbb_allocates_through_malloc();

}  // namespace hg::test
