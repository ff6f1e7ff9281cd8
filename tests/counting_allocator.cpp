// The counting allocator of counting_allocator.h.
#include "counting_allocator.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <execinfo.h>
#include <link.h>
#include <tbb/tbb_allocator.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace {

// ---- The counting allocator ----

struct Segment {
  uintptr_t begin = 0, end = 0;
};
constexpr int kMaxSegments = 8;
Segment dnnl_code[kMaxSegments];  // executable segments of libdnnl, found once before counting
int dnnl_segments = 0;

constexpr int kKeptTraces = 4, kTraceDepth = 48;
struct Trace {
  void* frames[kTraceDepth];
  int depth;
};
Trace kept[kKeptTraces];  // the first allocations outside oneDNN, printed when the test fails

std::atomic<bool> counting{false};
std::atomic<int64_t> inside_dnnl{0}, outside_dnnl{0};
thread_local bool in_hook = false;  // backtrace() may allocate; never count (or recurse into) ourselves

bool in_dnnl(const void* address) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(address);
  for (int s = 0; s < dnnl_segments; ++s)
    if (a >= dnnl_code[s].begin && a < dnnl_code[s].end) return true;
  return false;
}

[[maybe_unused]] void note_allocation() {
  if (!counting.load(std::memory_order_relaxed) || in_hook) return;
  in_hook = true;
  Trace trace;
  trace.depth = backtrace(trace.frames, kTraceDepth);
  bool dnnl = false;
  for (int f = 0; f < trace.depth && !dnnl; ++f) dnnl = in_dnnl(trace.frames[f]);
  if (dnnl) {
    inside_dnnl.fetch_add(1);
  } else {
    const int64_t index = outside_dnnl.fetch_add(1);
    if (index < kKeptTraces) kept[index] = trace;
  }
  in_hook = false;
}

int find_dnnl(dl_phdr_info* info, size_t, void*) {
  if (!info->dlpi_name || !std::strstr(info->dlpi_name, "libdnnl")) return 0;
  for (int h = 0; h < info->dlpi_phnum && dnnl_segments < kMaxSegments; ++h) {
    const ElfW(Phdr)& header = info->dlpi_phdr[h];
    if (header.p_type != PT_LOAD || !(header.p_flags & PF_X)) continue;
    const uintptr_t begin = info->dlpi_addr + header.p_vaddr;
    dnnl_code[dnnl_segments++] = Segment{begin, begin + header.p_memsz};
  }
  return 1;
}

}  // namespace

#if HG_COUNTING_ALLOCATOR
// glibc's own allocator under its internal names; the definitions below interpose the public ones for the
// executable and every shared library (libstdc++'s operator new, oneDNN, TBB, libgomp, the plugins).
extern "C" {
void* __libc_malloc(size_t size);
void __libc_free(void* p);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void* __libc_memalign(size_t alignment, size_t size);

void* malloc(size_t size) {
  note_allocation();
  return __libc_malloc(size);
}
void free(void* p) {
  __libc_free(p);
}
void* calloc(size_t count, size_t size) {
  note_allocation();
  return __libc_calloc(count, size);
}
void* realloc(void* p, size_t size) {
  note_allocation();
  return __libc_realloc(p, size);
}
void* memalign(size_t alignment, size_t size) {
  note_allocation();
  return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) {
  note_allocation();
  return __libc_memalign(alignment, size);
}
void* valloc(size_t size) {
  note_allocation();
  return __libc_memalign(size_t(sysconf(_SC_PAGESIZE)), size);
}
int posix_memalign(void** out, size_t alignment, size_t size) {
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  note_allocation();
  void* p = __libc_memalign(alignment, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

// TBB allocates through libtbbmalloc when it can load it, and that allocator gets its memory from mmap, out
// of this hook's sight. Refusing that one library makes TBB fall back to malloc, so TBB's own allocations
// (flow-graph tasks and messages) are counted too. Every other dlopen (plugins) goes through.
void* dlopen(const char* file, int mode) {
  using Dlopen = void* (*)(const char*, int);
  static const Dlopen real = reinterpret_cast<Dlopen>(dlsym(RTLD_NEXT, "dlopen"));
  if (file && std::strstr(file, "libtbbmalloc")) return nullptr;
  return real(file, mode);
}
}
#endif

namespace hg::test {

AllocationCounts count_allocations(const std::function<void()>& body) {
  if (dnnl_segments == 0) dl_iterate_phdr(find_dnnl, nullptr);
  REQUIRE_MESSAGE(dnnl_segments > 0, "libdnnl is not loaded in this process");
  void* warm[1];
  backtrace(warm, 1);  // the first call loads libgcc_s
  inside_dnnl = 0;
  outside_dnnl = 0;
  counting = true;
  body();
  counting = false;
  return AllocationCounts{inside_dnnl.load(), outside_dnnl.load()};
}

void print_first_allocations(int64_t outside) {
  for (int64_t t = 0; t < std::min<int64_t>(outside, kKeptTraces); ++t) {
    std::fprintf(stderr, "allocation %lld outside oneDNN:\n", static_cast<long long>(t + 1));
    backtrace_symbols_fd(kept[t].frames, kept[t].depth, 2);
  }
}

bool tbb_allocates_through_malloc() {
  return tbb::tbb_allocator<char>::allocator_type() == tbb::tbb_allocator<char>::standard;
}

}  // namespace hg::test
