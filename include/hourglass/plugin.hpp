// Header-only C++ conveniences over plugin.h for plugin authors: a guard that turns any exception into the
// ABI's error return (exceptions must never cross the boundary), tensor helpers, and a lambda parallel_for
// that runs on the engine's chosen threading.
#ifndef HOURGLASS_PLUGIN_HPP
#define HOURGLASS_PLUGIN_HPP

#include <hourglass/plugin.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <exception>
#include <mutex>
#include <utility>

namespace hourglass::plugin {

inline int64_t num_elements(const hg_tensor& t) {
  int64_t n = 1;
  for (int32_t i = 0; i < t.rank; ++i) n *= t.dims[i];
  return n;
}

// Rows = dims[0] (the batch), features = the product of the rest.
inline int64_t batch_size(const hg_tensor& t) {
  return t.rank == 0 ? 1 : t.dims[0];
}
inline int64_t elements_per_sample(const hg_tensor& t) {
  int64_t n = 1;
  for (int32_t i = 1; i < t.rank; ++i) n *= t.dims[i];
  return n;
}

// Runs f() and converts an exception into a non-zero return with its message in call->error.
template <class F>
int guarded(const hg_term_call* call, F&& f) noexcept {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    if (call && call->error && call->error_size) std::snprintf(call->error, call->error_size, "%s", e.what());
  } catch (...) {
    if (call && call->error && call->error_size)
      std::snprintf(call->error, call->error_size, "unknown exception");
  }
  return 1;
}

// body(begin, end) over [begin, end) on the engine's threads. An exception in a body must not unwind
// through the engine's C frames: the first is caught on its thread, the other chunks are skipped, and it is
// rethrown here, on the calling thread, after the loop.
template <class F>
void parallel_for(const hg_term_call* call, int64_t begin, int64_t end, int64_t grain, F&& body) {
  struct Context {
    explicit Context(F& b) : body(b) {}
    F& body;
    std::atomic<bool> failed{false};
    std::mutex mutex;
    std::exception_ptr error;
  } context(body);
  auto trampoline = [](void* ctx, int64_t b, int64_t e) {
    Context& c = *static_cast<Context*>(ctx);
    if (c.failed.load(std::memory_order_relaxed)) return;
    try {
      c.body(b, e);
    } catch (...) {
      std::lock_guard<std::mutex> lock(c.mutex);
      if (!c.error) c.error = std::current_exception();
      c.failed.store(true, std::memory_order_relaxed);
    }
  };
  call->host->parallel_for(begin, end, grain, &context, trampoline);
  if (context.error) std::rethrow_exception(context.error);
}

// Sum of f(begin, end) over fixed chunks of `grain` elements. The chunking does not depend on the thread
// count, so the result is bit-identical however many threads run it.
template <class F>
double parallel_sum(const hg_term_call* call, int64_t n, int64_t grain, F&& f) {
  const int64_t chunks = (n + grain - 1) / grain;
  constexpr int64_t kStack = 256;
  double stack_partials[kStack];
  double* partials = chunks <= kStack ? stack_partials : new double[chunks];
  parallel_for(call, 0, chunks, 1, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      const int64_t b = c * grain;
      partials[c] = f(b, b + grain < n ? b + grain : n);
    }
  });
  double total = 0;
  for (int64_t c = 0; c < chunks; ++c) total += partials[c];
  if (partials != stack_partials) delete[] partials;
  return total;
}

}  // namespace hourglass::plugin

#endif  // HOURGLASS_PLUGIN_HPP
