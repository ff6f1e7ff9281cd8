// The built-in corruption terms corrupt.masking, corrupt.gaussian, corrupt.salt_pepper and corrupt.dropout,
// shipped as a plugin exactly like an out-of-tree one. Each maps a tensor to a same-shaped one while
// training and is the identity in evaluation. Element i's randomness is a hash of (seed, i), so apply and
// apply_gradient see the same mask without storing it, and the output is the same for any threading.
#include <hourglass/plugin.hpp>

#include <cmath>
#include <stdexcept>
#include <string>

namespace {

using namespace hourglass::plugin;

// Elements per chunk, as in the losses: amortizes scheduling yet splits one MNIST batch across cores.
constexpr int64_t kGrain = 16384;

// ---- Counter-based randomness ----

// The splitmix64 finalizer (Steele, Lea, Flood 2014): a bijective mix with full avalanche.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

// 64 random bits for counter `index` under `key` (= mix(seed)): element i of the splitmix64 stream that
// starts at key, computed directly, so any chunk can produce its own elements.
uint64_t random_bits(uint64_t key, uint64_t index) {
  return mix(key + kGolden * (index + 1));
}

// The top 53 bits as a double uniform in [0, 1).
double uniform(uint64_t bits) {
  return static_cast<double>(bits >> 11) * 0x1.0p-53;
}

// A standard normal from counters 2i and 2i+1 (Box-Muller); 1 - uniform lies in (0, 1], so the log is finite.
double standard_normal(uint64_t key, int64_t i) {
  const double radius = std::sqrt(-2 * std::log(1 - uniform(random_bits(key, 2 * i))));
  return radius * std::cos(6.283185307179586 * uniform(random_bits(key, 2 * i + 1)));
}

// ---- Shared plumbing: checks, then one elementwise loop for apply and one for apply_gradient ----

// The engine checks shapes at plan time; this guards against a caller that did not.
void check_call(const hg_term_call* call, const hg_tensor* out, const char* out_name) {
  if (!call->host) throw std::runtime_error("no host services were passed to the term");
  if (call->num_inputs != 1 || !call->inputs)
    throw std::runtime_error("expects 1 input (src), got " + std::to_string(call->num_inputs));
  if (!call->params) throw std::runtime_error("the parameter values were not passed");
  if (!call->inputs[0].data) throw std::runtime_error("the input has no data");
  if (!out || !out->data) throw std::runtime_error(std::string("no ") + out_name + " buffer was passed");
  if (num_elements(*out) != num_elements(call->inputs[0]))
    throw std::runtime_error(std::string(out_name) + " has " + std::to_string(num_elements(*out)) +
                             " elements, the input has " + std::to_string(num_elements(call->inputs[0])));
}

// A corruption is elementwise: Corruption::apply(x, key, i, param) gives dst_i, and
// Corruption::slope(key, i, param) gives d dst_i / d src_i.
template <class Corruption>
int apply(const hg_term_call* call, hg_tensor* dst) {
  return guarded(call, [&] {
    check_call(call, dst, "dst");
    const float* src = call->inputs[0].data;
    float* out = dst->data;
    const bool training = call->training != 0;
    const uint64_t key = mix(call->seed);
    const double param = call->params[0];
    parallel_for(call, 0, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = training ? Corruption::apply(src[i], key, i, param) : src[i];
    });
  });
}

// diff_input += slope * diff_dst; the slope is 1 in evaluation.
template <class Corruption>
int apply_gradient(const hg_term_call* call, const hg_tensor* diff_dst, hg_tensor* diff_input) {
  return guarded(call, [&] {
    check_call(call, diff_input, "diff_input");
    if (!diff_dst || !diff_dst->data) throw std::runtime_error("no diff_dst buffer was passed");
    if (num_elements(*diff_dst) != num_elements(*diff_input))
      throw std::runtime_error("diff_dst has " + std::to_string(num_elements(*diff_dst)) +
                               " elements, diff_input has " + std::to_string(num_elements(*diff_input)));
    const float* diff = diff_dst->data;
    float* out = diff_input->data;
    const bool training = call->training != 0;
    const uint64_t key = mix(call->seed);
    const double param = call->params[0];
    parallel_for(call, 0, num_elements(*diff_input), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        out[i] += training ? static_cast<float>(Corruption::slope(key, i, param) * diff[i]) : diff[i];
    });
  });
}

// ---- The corruptions ----

// Zero each element with probability `rate`, no rescaling (Vincent et al. 2008, denoising autoencoders).
struct Masking {
  static bool kept(uint64_t key, int64_t i, double rate) { return uniform(random_bits(key, i)) >= rate; }
  static float apply(float x, uint64_t key, int64_t i, double rate) { return kept(key, i, rate) ? x : 0.0f; }
  static double slope(uint64_t key, int64_t i, double rate) { return kept(key, i, rate) ? 1 : 0; }
};

// Add N(0, sigma^2) noise.
struct Gaussian {
  static float apply(float x, uint64_t key, int64_t i, double sigma) {
    return static_cast<float>(x + sigma * standard_normal(key, i));
  }
  static double slope(uint64_t, int64_t, double) { return 1; }
};

// With probability `rate` set the element to 0 or 1, half each (the lowest bit, which uniform() discards).
struct SaltPepper {
  static float apply(float x, uint64_t key, int64_t i, double rate) {
    const uint64_t bits = random_bits(key, i);
    if (uniform(bits) >= rate) return x;
    return (bits & 1) ? 1.0f : 0.0f;
  }
  static double slope(uint64_t key, int64_t i, double rate) {
    return uniform(random_bits(key, i)) >= rate ? 1 : 0;
  }
};

// Inverted dropout (Srivastava et al. 2014): zero with probability `rate`, scale kept ones by 1/(1-rate) so
// the expectation is unchanged.
struct Dropout {
  static double slope(uint64_t key, int64_t i, double rate) {
    return uniform(random_bits(key, i)) >= rate ? 1 / (1 - rate) : 0;
  }
  static float apply(float x, uint64_t key, int64_t i, double rate) {
    return static_cast<float>(x * slope(key, i, rate));
  }
};

// ---- The table ----

const char* const kSrc[] = {"src"};
// Noise on data (denoising autoencoders), on an activation (dropout on a code) or on a parameter (the same
// noise on weights, as in DropConnect) are all in use.
const uint32_t kSrcKinds[] = {HG_INPUT_ANY};
const hg_param_spec kMaskingRate[] = {
    {sizeof(hg_param_spec), "rate", HG_PARAM_FLOAT, 0.3, 0, 1, "probability that an element is set to 0"}};
const hg_param_spec kGaussianSigma[] = {{sizeof(hg_param_spec), "sigma", HG_PARAM_FLOAT, 0.1, 0, 100,
                                         "standard deviation of the additive noise"}};
const hg_param_spec kSaltPepperRate[] = {{sizeof(hg_param_spec), "rate", HG_PARAM_FLOAT, 0.1, 0, 1,
                                          "probability that an element is set to 0 or 1 (half each)"}};
const hg_param_spec kDropoutRate[] = {{sizeof(hg_param_spec), "rate", HG_PARAM_FLOAT, 0.5, 0, 0.99,
                                       "probability that an element is dropped; kept ones are scaled "
                                       "by 1/(1-rate)"}};

const hg_term kTerms[] = {
    {sizeof(hg_term), "masking", HG_TERM_CORRUPTION, 1, kSrc, kSrcKinds, 1, kMaskingRate,
     "masking noise: each element zeroed with probability rate, no rescaling", nullptr, nullptr,
     apply<Masking>, apply_gradient<Masking>, nullptr, nullptr},
    {sizeof(hg_term), "gaussian", HG_TERM_CORRUPTION, 1, kSrc, kSrcKinds, 1, kGaussianSigma,
     "additive gaussian noise N(0, sigma^2)", nullptr, nullptr, apply<Gaussian>, apply_gradient<Gaussian>,
     nullptr, nullptr},
    {sizeof(hg_term), "salt_pepper", HG_TERM_CORRUPTION, 1, kSrc, kSrcKinds, 1, kSaltPepperRate,
     "salt-and-pepper noise: with probability rate an element is set to 0 or 1", nullptr, nullptr,
     apply<SaltPepper>, apply_gradient<SaltPepper>, nullptr, nullptr},
    {sizeof(hg_term), "dropout", HG_TERM_CORRUPTION, 1, kSrc, kSrcKinds, 1, kDropoutRate,
     "inverted dropout: zeroed with probability rate, kept elements scaled by 1/(1-rate)", nullptr, nullptr,
     apply<Dropout>, apply_gradient<Dropout>, nullptr, nullptr},
};

const hg_plugin kPlugin = {HG_PLUGIN_ABI_VERSION_MAJOR,
                           HG_PLUGIN_ABI_VERSION_MINOR,
                           sizeof(hg_plugin),
                           "corrupt",
                           "1.0.0",
                           sizeof kTerms / sizeof kTerms[0],
                           kTerms};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hg_plugin* hourglass_plugin() {
  return &kPlugin;
}
