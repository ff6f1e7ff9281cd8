// OpenMP implementation of the math threading in threading.h. Chunk boundaries depend only on
// (begin, end, grain), never on the thread count, so a reduction done per chunk gives the same bits on any
// number of threads.
#include "kernels/threading.h"

#include <dnnl.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <thread>

#include "support/diagnostics.h"

namespace hg {
namespace {

std::atomic<int> configured_threads{0};  // 0 until set_math_threads: OpenMP's own default applies

// parallel_for is overloaded, so the plugin table points at this unambiguous wrapper.
void host_parallel_for(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body) {
  parallel_for(begin, end, grain, context, body);
}

// The host's GEMM: argument checks oneDNN would report only as a status, then dnnl_sgemm (row-major).
// oneDNN sizes its team from the calling thread's OpenMP setting, and a plugin may be called on a thread
// that set_math_threads never saw (a TBB worker), so that setting is aligned first: the same thread count
// gives the same blocking, hence the same bits.
int32_t host_sgemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  const auto transposed = [](char t) { return t == 'T' || t == 't'; };
  const auto valid_flag = [&](char t) { return transposed(t) || t == 'N' || t == 'n'; };
  if (!valid_flag(trans_a) || !valid_flag(trans_b) || m < 0 || n < 0 || k < 0) return 1;
  // Row strides: at least the row length of each matrix as stored.
  if (lda < std::max<int64_t>(1, transposed(trans_a) ? m : k) ||
      ldb < std::max<int64_t>(1, transposed(trans_b) ? k : n) || ldc < std::max<int64_t>(1, n))
    return 1;
  if (m == 0 || n == 0) return 0;
  if (!c || (k > 0 && (!a || !b))) return 1;
  use_math_threads_here();
  return dnnl_sgemm(transposed(trans_a) ? 'T' : 'N', transposed(trans_b) ? 'T' : 'N', m, n, k, alpha, a, lda,
                    b, ldb, beta, c, ldc) == dnnl_success
             ? 0
             : 1;
}

// Runs chunk `chunk` of [begin, end): [begin + chunk * grain, that + grain) clipped to end.
inline void run_chunk(int64_t begin, int64_t end, int64_t grain, int64_t chunk, void* context,
                      hg_range_fn body) {
  const int64_t chunk_begin = begin + chunk * grain;
  body(context, chunk_begin, end - chunk_begin <= grain ? end : chunk_begin + grain);
}

// The table handed to plugins; num_threads follows set_math_threads.
hg_host& host_table() {
  static hg_host host{sizeof(hg_host), &host_parallel_for, math_threads(), &host_sgemm};
  return host;
}

// Chunks run on the OpenMP team. An exception cannot leave an OpenMP region, so the first one is kept,
// later chunks are skipped, and it is rethrown on the calling thread.
void run_chunks_in_parallel(int64_t begin, int64_t end, int64_t grain, int64_t chunks, void* context,
                            hg_range_fn body) {
  std::exception_ptr first_error;
  std::atomic<bool> failed{false};
#pragma omp parallel for schedule(static) num_threads(math_threads())
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    if (failed.load(std::memory_order_relaxed)) continue;
    try {
      run_chunk(begin, end, grain, chunk, context, body);
    } catch (...) {
#pragma omp critical(hg_parallel_for_error)
      if (!first_error) first_error = std::current_exception();
      failed.store(true, std::memory_order_relaxed);
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace

void use_math_threads_here() {
  if (!omp_in_parallel() && omp_get_max_threads() != math_threads()) omp_set_num_threads(math_threads());
}

std::shared_ptr<void> warm_up_gemm_kernels() {
  static std::atomic<bool> started{false};
  // dnnl_cpu_isa values are nested bit masks: every ISA with AVX-512 core contains avx512_core's bits.
  const unsigned avx512 = dnnl_cpu_isa_avx512_core;
  if ((unsigned(dnnl_get_effective_cpu_isa()) & avx512) == avx512) return nullptr;
  if (started.exchange(true)) return nullptr;
  return std::shared_ptr<std::thread>(new std::thread([] {
                                        omp_set_num_threads(1);  // this thread's own setting: no second team
                                        float a[64] = {}, b[64] = {}, c[64] = {};
                                        dnnl_sgemm('N', 'N', 8, 8, 8, 1.0f, a, 8, b, 8, 0.0f, c, 8);
                                      }),
                                      [](std::thread* t) {
                                        t->join();
                                        delete t;
                                      });
}

void set_math_threads(int threads) {
  HG_ASSERT(threads >= 1, "math thread count must be positive, got " + std::to_string(threads));
  omp_set_num_threads(threads);  // oneDNN reads this on the calling thread
  configured_threads.store(threads);
  host_table().num_threads = threads;
}

int math_threads() {
  const int threads = configured_threads.load();
  return threads > 0 ? threads : omp_get_max_threads();
}

const hg_host* plugin_host() {
  return &host_table();
}

void parallel_for(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body) {
  if (end <= begin) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (end - begin - 1) / grain + 1;  // ceil, without overflowing near INT64_MAX
  // One chunk, one thread, or already inside a parallel region: no (nested) team is worth starting.
  if (chunks == 1 || math_threads() == 1 || omp_in_parallel()) {
    for (int64_t chunk = 0; chunk < chunks; ++chunk) run_chunk(begin, end, grain, chunk, context, body);
    return;
  }
  run_chunks_in_parallel(begin, end, grain, chunks, context, body);
}

}  // namespace hg
