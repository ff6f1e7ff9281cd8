// Test helpers for calling plugin terms without the kernels layer: a serial hg_host, a threaded one (3
// std::threads taking grain-sized chunks round-robin), tensor views over vectors, and fixture paths.
#pragma once

#include <hourglass/plugin.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

namespace hg::test {

inline void serial_for(int64_t begin, int64_t end, int64_t, void* context, hg_range_fn body) {
  if (begin < end) body(context, begin, end);
}

inline void threaded_for(int64_t begin, int64_t end, int64_t grain, void* context, hg_range_fn body) {
  constexpr int kThreads = 3;
  grain = std::max<int64_t>(grain, 1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([=] {
      for (int64_t b = begin + t * grain; b < end; b += kThreads * grain)
        body(context, b, std::min(end, b + grain));
    });
  for (std::thread& thread : threads) thread.join();
}

// A plain triple loop in double, standing in for the engine's oneDNN GEMM (tests/kernels checks that one).
inline int32_t reference_sgemm(char trans_a, char trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                               const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                               int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p)
        sum += double(trans_a == 'T' ? a[p * lda + i] : a[i * lda + p]) *
               (trans_b == 'T' ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = float(alpha * sum + (beta == 0 ? 0.0 : double(beta) * c[i * ldc + j]));
    }
  return 0;
}

inline const hg_host* serial_host() {
  static const hg_host host{sizeof(hg_host), serial_for, 1, reference_sgemm};
  return &host;
}

inline const hg_host* threaded_host() {
  static const hg_host host{sizeof(hg_host), threaded_for, 3, reference_sgemm};
  return &host;
}

inline hg_tensor view(std::vector<float>& data, const std::vector<int64_t>& dims) {
  hg_tensor t{data.data(), static_cast<int32_t>(dims.size()), {}};
  std::copy(dims.begin(), dims.end(), t.dims);
  return t;
}

// A call over `inputs` with `params` (spec order); the registry fills in the error buffer.
inline hg_term_call make_call(const std::vector<hg_tensor>& inputs, const std::vector<double>& params,
                              const hg_host* host = serial_host()) {
  hg_term_call call{};
  call.struct_size = sizeof call;
  call.host = host;
  call.params = params.data();
  call.num_inputs = static_cast<int32_t>(inputs.size());
  call.inputs = inputs.data();
  call.seed = 1;
  call.training = 1;
  return call;
}

inline std::string fixture(const std::string& relative) {
  return std::string(HG_TEST_PLUGIN_DIR) + "/" + relative;
}
inline std::string builtin_losses() {
  return std::string(HG_PLUGIN_DIR) + "/hg_losses.so";
}

}  // namespace hg::test
