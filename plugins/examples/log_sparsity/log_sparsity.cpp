// An example regularizer built out of tree: a log (Cauchy / Student-t) sparsity penalty on activations,
// mean over the batch of sum_i log(1 + h_i^2 / eps). Unlike L1 it barely penalizes large activations, so it
// pushes most units to zero while letting a few fire strongly. Use it as
//   loss = loss.bce(recon, x) + 0.01 * example.log_sparsity(code, eps=0.1)
#include <hourglass/plugin.hpp>

#include <cmath>
#include <stdexcept>

namespace {

using namespace hourglass::plugin;

int value(const hg_term_call* call, double* out) {
  return guarded(call, [&] {
    const hg_tensor& h = call->inputs[0];
    const double eps = call->params[0];
    const int64_t n = num_elements(h);
    const double sum = parallel_sum(call, n, 1 << 14, [&](int64_t b, int64_t e) {
      double s = 0;
      for (int64_t i = b; i < e; ++i) s += std::log1p(double(h.data[i]) * h.data[i] / eps);
      return s;
    });
    *out = sum / double(batch_size(h));
  });
}

// d/dh log(1 + h^2/eps) = 2h / (eps + h^2)
int gradient(const hg_term_call* call, float scale, hg_tensor* diff) {
  return guarded(call, [&] {
    if (!diff[0].data) return;
    const hg_tensor& h = call->inputs[0];
    if (num_elements(diff[0]) != num_elements(h))
      throw std::invalid_argument("gradient buffer has the wrong size");
    const float eps = float(call->params[0]), factor = scale / float(batch_size(h));
    parallel_for(call, 0, num_elements(h), 1 << 14, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        diff[0].data[i] += factor * 2 * h.data[i] / (eps + h.data[i] * h.data[i]);
    });
  });
}

const char* const kInputs[] = {"activations"};
const uint32_t kInputKinds[] = {HG_INPUT_ACTIVATION};  // the lowering refuses a parameter or data here
const hg_param_spec kParams[] = {{sizeof(hg_param_spec), "eps", HG_PARAM_FLOAT, 0.1, 1e-6, 1e6,
                                  "scale below which activations count as zero"}};
const hg_term kTerms[] = {{sizeof(hg_term), "log_sparsity", HG_TERM_REGULARIZER, 1, kInputs, kInputKinds, 1,
                           kParams, "log sparsity sum_i log(1 + h_i^2/eps), mean over the batch", value,
                           gradient, nullptr, nullptr, nullptr, nullptr}};
const hg_plugin kPlugin = {HG_PLUGIN_ABI_VERSION_MAJOR,
                           HG_PLUGIN_ABI_VERSION_MINOR,
                           sizeof(hg_plugin),
                           "example",
                           "0.1.0",
                           1,
                           kTerms};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hg_plugin* hourglass_plugin() {
  return &kPlugin;
}
