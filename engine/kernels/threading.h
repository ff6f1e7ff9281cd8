// How hourglass threads its math. oneDNN (Debian's build) runs on OpenMP, so elementwise kernels and plugin
// loops run on the same OpenMP team: no second pool spins against it and no more than `threads` cores are
// busy. TBB schedules the graph's nodes and the data pipeline (see runtime/).
#pragma once

#include <hourglass/plugin.h>

#include <cstdint>

namespace hg {

// Sets the thread count for oneDNN and every hourglass kernel (omp_set_num_threads). Call before planning.
void set_math_threads(int threads);
int math_threads();

// The services handed to plugins; parallel_for runs on the OpenMP team with static, deterministic chunks.
const hg_host* plugin_host();

// body(begin, end) over [begin, end) in chunks of at least `grain`, on the math threads.
void parallel_for(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body);

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, F&& body) {
  auto trampoline = [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); };
  parallel_for(begin, end, grain, &body, trampoline);
}

}  // namespace hg
