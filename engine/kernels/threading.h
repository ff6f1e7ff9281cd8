// How hourglass threads its math. oneDNN (Debian's build) runs on OpenMP, so elementwise kernels and plugin
// loops run on the same OpenMP team: no second pool spins against it and no more than `threads` cores are
// busy. TBB schedules the graph's nodes and the data pipeline (see runtime/).
#pragma once

#include <hourglass/plugin.h>

#include <cstdint>
#include <memory>
#include <type_traits>

namespace hg {

// Sets the thread count for oneDNN and every hourglass kernel (omp_set_num_threads). Call before planning.
void set_math_threads(int threads);
int math_threads();
// OpenMP's thread count is per thread: a thread set_math_threads never ran on (a TBB worker) gets
// math_threads() for the parallel regions and oneDNN calls it makes from now on (same count, same bits).
void use_math_threads_here();

// Where oneDNN's f32 matmul runs on its sgemm kernels (CPUs without AVX-512), those kernels are generated on
// the first GEMM of the process, about 15 ms, which the first training step would otherwise wait for. This
// starts that on a helper thread (one small single-threaded sgemm), to overlap with loading plugins,
// initializing parameters, reading data and planning. On AVX-512 CPUs matmul runs on brgemm kernels made
// with each primitive, so warming the sgemm ones only competes with planning for the second core and the
// address-space lock (start-up 63 -> 48 ms without it), and nothing is started: returns null. Only the first
// call in a process starts one; releasing the handle waits for the thread. Results do not depend on it.
std::shared_ptr<void> warm_up_gemm_kernels();

// The services handed to plugins; parallel_for runs on the OpenMP team with static, deterministic chunks.
const hg_host* plugin_host();

// body(begin, end) over [begin, end) in chunks of `grain` (the last may be shorter), on the math threads.
void parallel_for(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body);

// A body's exception stops the remaining chunks and is rethrown here, on the calling thread.
template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& body) {
  using Body = std::remove_reference_t<F>;  // F is `Lambda&` when an lvalue is passed
  auto trampoline = [](void* ctx, int64_t b, int64_t e) { (*static_cast<Body*>(ctx))(b, e); };
  parallel_for(begin, end, grain, const_cast<void*>(static_cast<const void*>(&body)), trampoline);
}

}  // namespace hg
