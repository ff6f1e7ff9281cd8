// The built-in loss terms loss.mse, loss.bce and loss.softmax_ce, shipped as a plugin exactly like an
// out-of-tree one. Shapes: prediction (N, F...) and a target of the same shape; softmax_ce takes logits
// (N,C). Sums run in double over fixed chunks (parallel_sum), so a value is bit-identical for any thread
// count.
#include <hourglass/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__x86_64__) && defined(__GLIBC__)
#include <immintrin.h>
// glibc's vector logf for AVX2 (libmvec), what GCC calls when it vectorizes logf under -ffast-math.
// The target attribute tells clang the call passes __m256 in AVX registers (GCC does not need it).
extern "C" __attribute__((target("avx2"))) __m256 _ZGVdN8v_logf(__m256);
#define HG_VECTOR_LOG 1  // and the AVX2 loops below
#endif

namespace {

using namespace hourglass::plugin;

// Elements per chunk: big enough to amortize scheduling, small enough to split one MNIST batch across cores.
constexpr int64_t kGrain = 16384;

// The engine checks shapes at plan time; this guards against a caller that did not.
void check_inputs(const hg_term_call* call, const char* prediction_name) {
  if (!call->host) throw std::runtime_error("no host services were passed to the term");
  if (call->num_inputs != 2 || !call->inputs)
    throw std::runtime_error("expects 2 inputs (" + std::string(prediction_name) + ", target), got " +
                             std::to_string(call->num_inputs));
  const hg_tensor& prediction = call->inputs[0];
  const hg_tensor& target = call->inputs[1];
  if (!prediction.data || !target.data) throw std::runtime_error("an input has no data");
  if (batch_size(prediction) != batch_size(target))
    throw std::runtime_error(std::string(prediction_name) + " has batch " +
                             std::to_string(batch_size(prediction)) + ", target has " +
                             std::to_string(batch_size(target)));
  if (elements_per_sample(prediction) != elements_per_sample(target))
    throw std::runtime_error(
        std::string(prediction_name) + " has " + std::to_string(elements_per_sample(prediction)) +
        " elements per sample, target has " + std::to_string(elements_per_sample(target)));
  if (num_elements(prediction) == 0) throw std::runtime_error(std::string(prediction_name) + " is empty");
}

void check_diffs(const hg_term_call* call, const hg_tensor* diff_inputs) {
  if (!diff_inputs) throw std::runtime_error("no gradient buffers were passed");
  for (int i = 0; i < 2; ++i)
    if (diff_inputs[i].data && num_elements(diff_inputs[i]) != num_elements(call->inputs[i]))
      throw std::runtime_error("gradient buffer " + std::to_string(i) + " has " +
                               std::to_string(num_elements(diff_inputs[i])) + " elements, its input has " +
                               std::to_string(num_elements(call->inputs[i])));
}

// ---- Elementwise losses: value(p, t) per element, summed, divided by the element or the sample count ----

// (p - t)^2, the squared error.
struct SquaredError {
  static double value(double p, double t) { return (p - t) * (p - t); }
  static double d_prediction(double p, double t) { return 2 * (p - t); }
  static double d_target(double p, double t) { return -2 * (p - t); }
};

// -[t log p + (1-t) log(1-p)], the binary cross-entropy. p is clamped to [eps, 1-eps] so the logs stay
// finite for saturated sigmoids; the derivatives use the same clamped p.
// The value is the hot part of a training step (two logs per pixel, every step), so it runs in float and
// takes one log where the target is exactly 0 or 1, as most pixels of scaled MNIST are.
struct BinaryCrossEntropy {
  static double clamped(double p) { return std::min(std::max(p, 1e-7), 1 - 1e-7); }
  static double value(float p, float t) {
    const float q = std::max(1 - p, 1e-7f);  // 1 - p, clamped as p is (1 - 1e-7 is not exact in float)
    p = std::max(p, 1e-7f);
    if (t == 0) return -std::log(q);
    if (t == 1) return -std::log(p);
    return -(t * std::log(p) + (1 - t) * std::log(q));
  }
  static double d_prediction(double p, double t) {
    p = clamped(p);
    return (p - t) / (p * (1 - p));
  }
  static double d_target(double p, double t) {
    p = clamped(p);
    return std::log(1 - p) - std::log(p);
  }
};

#ifdef HG_VECTOR_LOG
// BinaryCrossEntropy::value summed over [b, e), eight pixels at a time through libmvec's logf: the scalar
// logf was the largest part of a batch-128 step outside the GEMMs (0.43 ms, docs/performance.md). Where all
// eight targets are 0 or 1 it takes the one log the scalar form takes; otherwise both. The logs may differ
// from the scalar ones in the last bit, and lanes sum in a different order: the value agrees to about 1e-7.
__attribute__((target("avx2"))) double bce_sum_avx2(const float* p, const float* t, int64_t b, int64_t e) {
  const __m256 one = _mm256_set1_ps(1.0f), eps = _mm256_set1_ps(1e-7f), zero = _mm256_setzero_ps();
  __m256d sum_lo = _mm256_setzero_pd(), sum_hi = _mm256_setzero_pd();
  int64_t i = b;
  for (; i + 8 <= e; i += 8) {
    const __m256 pv = _mm256_loadu_ps(p + i), tv = _mm256_loadu_ps(t + i);
    const __m256 q = _mm256_max_ps(_mm256_sub_ps(one, pv), eps), pc = _mm256_max_ps(pv, eps);
    const __m256 is_one = _mm256_cmp_ps(tv, one, _CMP_EQ_OQ), is_zero = _mm256_cmp_ps(tv, zero, _CMP_EQ_OQ);
    __m256 loss;
    if (_mm256_movemask_ps(_mm256_or_ps(is_one, is_zero)) == 0xff) {
      loss = _ZGVdN8v_logf(_mm256_blendv_ps(q, pc, is_one));  // t = 1: log p; t = 0: log(1 - p)
    } else {
      const __m256 lp = _ZGVdN8v_logf(pc), lq = _ZGVdN8v_logf(q);
      loss = _mm256_add_ps(_mm256_mul_ps(tv, lp), _mm256_mul_ps(_mm256_sub_ps(one, tv), lq));
    }
    sum_lo = _mm256_sub_pd(sum_lo, _mm256_cvtps_pd(_mm256_castps256_ps128(loss)));
    sum_hi = _mm256_sub_pd(sum_hi, _mm256_cvtps_pd(_mm256_extractf128_ps(loss, 1)));
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(sum_lo, sum_hi));
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < e; ++i) sum += BinaryCrossEntropy::value(p[i], t[i]);
  return sum;
}

// diff[i] += float(factor * BinaryCrossEntropy::d_prediction(p[i], t[i])) over [b, e), four pixels at a time
// in double: the same IEEE operations in the same order (no FMA in this clone), so bit for bit the scalar
// result; the operand order of max/min keeps a NaN prediction a NaN, as std::max/std::min do.
__attribute__((target("avx2"))) void bce_gradient_avx2(const float* p, const float* t, double factor,
                                                       float* diff, int64_t b, int64_t e) {
  const __m256d lo = _mm256_set1_pd(1e-7), hi = _mm256_set1_pd(1 - 1e-7), one = _mm256_set1_pd(1.0);
  const __m256d f = _mm256_set1_pd(factor);
  int64_t i = b;
  for (; i + 4 <= e; i += 4) {
    const __m256d pd = _mm256_min_pd(hi, _mm256_max_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(p + i))));
    const __m256d td = _mm256_cvtps_pd(_mm_loadu_ps(t + i));
    const __m256d g = _mm256_div_pd(_mm256_sub_pd(pd, td), _mm256_mul_pd(pd, _mm256_sub_pd(one, pd)));
    _mm_storeu_ps(diff + i, _mm_add_ps(_mm_loadu_ps(diff + i), _mm256_cvtpd_ps(_mm256_mul_pd(f, g))));
  }
  for (; i < e; ++i) diff[i] += static_cast<float>(factor * BinaryCrossEntropy::d_prediction(p[i], t[i]));
}
#endif

// Parameter `sum`: 1 sums over each sample's elements and averages over the batch; 0 averages everything.
double denominator(const hg_term_call* call) {
  if (!call->params) throw std::runtime_error("the parameter values were not passed");
  const hg_tensor& prediction = call->inputs[0];
  return static_cast<double>(call->params[0] != 0 ? batch_size(prediction) : num_elements(prediction));
}

template <class Loss>
int elementwise_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_inputs(call, "prediction");
    const float* prediction = call->inputs[0].data;
    const float* target = call->inputs[1].data;
    const double total = parallel_sum(call, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
#ifdef HG_VECTOR_LOG
      if constexpr (std::is_same_v<Loss, BinaryCrossEntropy>)
        if (__builtin_cpu_supports("avx2")) return bce_sum_avx2(prediction, target, b, e);
#endif
      double sum = 0;
      for (int64_t i = b; i < e; ++i) sum += Loss::value(prediction[i], target[i]);
      return sum;
    });
    *value = total / denominator(call);
  });
}

// diff_prediction += scale * d value / d prediction, and likewise for the target when it has a buffer.
template <class Loss>
int elementwise_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_inputs(call, "prediction");
    check_diffs(call, diff_inputs);
    const float* prediction = call->inputs[0].data;
    const float* target = call->inputs[1].data;
    float* diff_prediction = diff_inputs[0].data;
    float* diff_target = diff_inputs[1].data;
    const double factor = scale / denominator(call);
    parallel_for(call, 0, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
#ifdef HG_VECTOR_LOG
      if constexpr (std::is_same_v<Loss, BinaryCrossEntropy>)
        if (diff_prediction && !diff_target && __builtin_cpu_supports("avx2"))
          return bce_gradient_avx2(prediction, target, factor, diff_prediction, b, e);
#endif
      for (int64_t i = b; i < e; ++i) {
        if (diff_prediction)
          diff_prediction[i] += static_cast<float>(factor * Loss::d_prediction(prediction[i], target[i]));
        if (diff_target)
          diff_target[i] += static_cast<float>(factor * Loss::d_target(prediction[i], target[i]));
      }
    });
  });
}

// ---- Softmax cross-entropy: logits (N,C), target (N,C); per-sample sum over classes, mean over the batch
// ----

void check_logits(const hg_term_call* call) {
  check_inputs(call, "logits");
  if (call->inputs[0].rank != 2)
    throw std::runtime_error("logits must have shape (N,C), got rank " +
                             std::to_string(call->inputs[0].rank));
}

int64_t rows_per_chunk(int64_t classes) {
  return std::max<int64_t>(1, kGrain / classes);
}

// log sum_c exp(x_c), shifted by the max so exp never overflows.
double log_sum_exp(const float* logits, int64_t classes) {
  const double max = *std::max_element(logits, logits + classes);
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += std::exp(logits[c] - max);
  return max + std::log(sum);
}

// -sum_c t_c log softmax(x)_c = sum_c t_c (lse(x) - x_c).
int softmax_ce_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_logits(call);
    const hg_tensor& logits = call->inputs[0];
    const int64_t rows = logits.dims[0], classes = logits.dims[1];
    const float* target = call->inputs[1].data;
    const double total = parallel_sum(call, rows, rows_per_chunk(classes), [&](int64_t b, int64_t e) {
      double sum = 0;
      for (int64_t r = b; r < e; ++r) {
        const float* x = logits.data + r * classes;
        const float* t = target + r * classes;
        const double lse = log_sum_exp(x, classes);
        for (int64_t c = 0; c < classes; ++c) sum += t[c] * (lse - x[c]);
      }
      return sum;
    });
    *value = total / static_cast<double>(rows);
  });
}

// d/dx_c = softmax_c * sum(t) - t_c, which is softmax - t for a distribution (sum(t) = 1) but stays exact for
// any target; d/dt_c = lse - x_c. Both divided by N for the batch mean.
int softmax_ce_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_logits(call);
    check_diffs(call, diff_inputs);
    const hg_tensor& logits = call->inputs[0];
    const int64_t rows = logits.dims[0], classes = logits.dims[1];
    const float* target = call->inputs[1].data;
    const double factor = scale / static_cast<double>(rows);
    parallel_for(call, 0, rows, rows_per_chunk(classes), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* x = logits.data + r * classes;
        const float* t = target + r * classes;
        const double lse = log_sum_exp(x, classes);
        double target_sum = 0;
        for (int64_t c = 0; c < classes; ++c) target_sum += t[c];
        float* diff_logits = diff_inputs[0].data ? diff_inputs[0].data + r * classes : nullptr;
        float* diff_target = diff_inputs[1].data ? diff_inputs[1].data + r * classes : nullptr;
        for (int64_t c = 0; c < classes; ++c) {
          if (diff_logits)
            diff_logits[c] += static_cast<float>(factor * (std::exp(x[c] - lse) * target_sum - t[c]));
          if (diff_target) diff_target[c] += static_cast<float>(factor * (lse - x[c]));
        }
      }
    });
  });
}

// ---- The table ----

const char* const kPredictionTarget[] = {"prediction", "target"};
const char* const kLogitsTarget[] = {"logits", "target"};
// The prediction is what the network computes. What it is compared with is data (the input it
// reconstructs, or labels), or another activation: a stacked autoencoder's layer reconstructs the code below.
const uint32_t kPredictionTargetKinds[] = {HG_INPUT_ACTIVATION,
                                           HG_INPUT_TARGET | HG_INPUT_LABEL | HG_INPUT_ACTIVATION};
const hg_param_spec kSumParam[] = {
    {sizeof(hg_param_spec), "sum", HG_PARAM_INT, 0, 0, 1,
     "1: sum over each sample's elements, mean over the batch; 0: mean of all"}};

const hg_term kTerms[] = {
    {sizeof(hg_term), "mse", HG_TERM_LOSS, 2, kPredictionTarget, kPredictionTargetKinds, 1, kSumParam,
     "mean squared error (p - t)^2", elementwise_value<SquaredError>, elementwise_gradient<SquaredError>,
     nullptr, nullptr, nullptr, nullptr},
    {sizeof(hg_term), "bce", HG_TERM_LOSS, 2, kPredictionTarget, kPredictionTargetKinds, 1, kSumParam,
     "binary cross-entropy -[t log p + (1-t) log(1-p)], p in (0,1) clamped to [1e-7, 1-1e-7]",
     elementwise_value<BinaryCrossEntropy>, elementwise_gradient<BinaryCrossEntropy>, nullptr, nullptr,
     nullptr, nullptr},
    {sizeof(hg_term), "softmax_ce", HG_TERM_LOSS, 2, kLogitsTarget, kPredictionTargetKinds, 0, nullptr,
     "softmax cross-entropy of logits (N,C) against a target distribution (N,C), mean over the batch",
     softmax_ce_value, softmax_ce_gradient, nullptr, nullptr, nullptr, nullptr},
};

const hg_plugin kPlugin = {HG_PLUGIN_ABI_VERSION_MAJOR,
                           HG_PLUGIN_ABI_VERSION_MINOR,
                           sizeof(hg_plugin),
                           "loss",
                           "1.0.0",
                           sizeof kTerms / sizeof kTerms[0],
                           kTerms};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hg_plugin* hourglass_plugin() {
  return &kPlugin;
}
