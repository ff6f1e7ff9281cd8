// The built-in regularizer terms reg.l1, reg.kl_sparsity, reg.l2, reg.contractive and reg.kl_normal, shipped
// as a plugin exactly like an out-of-tree one. Activations are batched (N, H...), parameters unbatched (any
// rank). The graph file's weight is the penalty's coefficient (lambda, beta). Sums run in double over fixed
// chunks or per column, so a value or gradient is bit-identical for any thread count; the one exception,
// contractive's weight gradient, uses the host's GEMM, the same bits for the same thread count.
#include <hourglass/plugin.hpp>

#include <algorithm>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace hourglass::plugin;

// Elements per chunk, as in the losses: amortizes scheduling yet splits one MNIST batch across cores.
constexpr int64_t kGrain = 16384;

// Rows (or columns) per chunk so that a chunk holds about kGrain elements.
int64_t lines_per_chunk(int64_t line_length) {
  return std::max<int64_t>(1, kGrain / std::max<int64_t>(line_length, 1));
}

// The engine checks shapes at plan time; this guards against a caller that did not.
void check_inputs(const hg_term_call* call, int expected, const char* names) {
  if (!call->host) throw std::runtime_error("no host services were passed to the term");
  if (call->num_inputs != expected || !call->inputs)
    throw std::runtime_error("expects " + std::to_string(expected) + " input" + (expected == 1 ? "" : "s") +
                             " (" + names + "), got " + std::to_string(call->num_inputs));
  for (int i = 0; i < expected; ++i) {
    if (!call->inputs[i].data) throw std::runtime_error("an input has no data");
    if (num_elements(call->inputs[i]) == 0) throw std::runtime_error("an input is empty");
  }
}

void check_diffs(const hg_term_call* call, const hg_tensor* diff_inputs) {
  if (!diff_inputs) throw std::runtime_error("no gradient buffers were passed");
  for (int i = 0; i < call->num_inputs; ++i)
    if (diff_inputs[i].data && num_elements(diff_inputs[i]) != num_elements(call->inputs[i]))
      throw std::runtime_error("gradient buffer " + std::to_string(i) + " has " +
                               std::to_string(num_elements(diff_inputs[i])) + " elements, its input has " +
                               std::to_string(num_elements(call->inputs[i])));
}

double param(const hg_term_call* call, int index) {
  if (!call->params) throw std::runtime_error("the parameter values were not passed");
  return call->params[index];
}

// column[j] = sum_n f(x[n, j]) over a (rows, columns) matrix. Each chunk of columns walks the rows in order,
// so the sums are exact-order and independent of the threading.
template <class F>
std::vector<double> column_sums(const hg_term_call* call, const float* x, int64_t rows, int64_t columns,
                                F&& f) {
  std::vector<double> column(columns, 0.0);
  parallel_for(call, 0, columns, lines_per_chunk(rows), [&](int64_t b, int64_t e) {
    for (int64_t n = 0; n < rows; ++n) {
      const float* row = x + n * columns;
      for (int64_t j = b; j < e; ++j) column[j] += f(row[j]);
    }
  });
  return column;
}

// ---- l1: mean over the batch of sum_i |h_i|; subgradient sign(h) / N (0 at 0) ----

int l1_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_inputs(call, 1, "activations");
    const hg_tensor& activations = call->inputs[0];
    const float* h = activations.data;
    const double total = parallel_sum(call, num_elements(activations), kGrain, [&](int64_t b, int64_t e) {
      double sum = 0;
      for (int64_t i = b; i < e; ++i) sum += std::fabs(h[i]);
      return sum;
    });
    *value = total / static_cast<double>(batch_size(activations));
  });
}

int l1_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_inputs(call, 1, "activations");
    check_diffs(call, diff_inputs);
    const hg_tensor& activations = call->inputs[0];
    float* diff = diff_inputs[0].data;
    if (!diff) return;
    const float* h = activations.data;
    const float step = static_cast<float>(scale / static_cast<double>(batch_size(activations)));
    parallel_for(call, 0, num_elements(activations), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) diff[i] += h[i] > 0 ? step : h[i] < 0 ? -step : 0.0f;
    });
  });
}

// ---- kl_sparsity: sum_j KL(rho || rho_hat_j), rho_hat_j the batch mean of unit j (UFLDL sparse AE) ----

constexpr double kMinMean = 1e-6;

// rho_hat_j clamped to [1e-6, 1-1e-6] so the logs stay finite for dead or saturated units; the gradient
// uses the same clamped means.
std::vector<double> mean_activations(const hg_term_call* call) {
  const hg_tensor& activations = call->inputs[0];
  const int64_t rows = batch_size(activations), units = elements_per_sample(activations);
  std::vector<double> mean =
      column_sums(call, activations.data, rows, units, [](float h) { return double(h); });
  for (double& m : mean) m = std::min(std::max(m / static_cast<double>(rows), kMinMean), 1 - kMinMean);
  return mean;
}

int kl_sparsity_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_inputs(call, 1, "activations");
    const double rho = param(call, 0);
    double total = 0;
    for (double rho_hat : mean_activations(call))
      total += rho * std::log(rho / rho_hat) + (1 - rho) * std::log((1 - rho) / (1 - rho_hat));
    *value = total;
  });
}

// d/dh_nj = (-rho/rho_hat_j + (1-rho)/(1-rho_hat_j)) / N.
int kl_sparsity_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_inputs(call, 1, "activations");
    check_diffs(call, diff_inputs);
    float* diff = diff_inputs[0].data;
    if (!diff) return;
    const double rho = param(call, 0);
    const hg_tensor& activations = call->inputs[0];
    const int64_t rows = batch_size(activations), units = elements_per_sample(activations);
    std::vector<float> per_unit(units);
    const std::vector<double> mean = mean_activations(call);
    for (int64_t j = 0; j < units; ++j)
      per_unit[j] = static_cast<float>(scale * (-rho / mean[j] + (1 - rho) / (1 - mean[j])) / rows);
    parallel_for(call, 0, rows, lines_per_chunk(units), [&](int64_t b, int64_t e) {
      for (int64_t n = b; n < e; ++n)
        for (int64_t j = 0; j < units; ++j) diff[n * units + j] += per_unit[j];
    });
  });
}

// ---- l2: 0.5 * sum w^2 over a whole parameter tensor (weight decay lambda/2 ||W||^2); gradient w ----

int l2_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_inputs(call, 1, "weights");
    const float* w = call->inputs[0].data;
    *value = 0.5 * parallel_sum(call, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
               double sum = 0;
               for (int64_t i = b; i < e; ++i) sum += static_cast<double>(w[i]) * w[i];
               return sum;
             });
  });
}

int l2_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_inputs(call, 1, "weights");
    check_diffs(call, diff_inputs);
    float* diff = diff_inputs[0].data;
    if (!diff) return;
    const float* w = call->inputs[0].data;
    parallel_for(call, 0, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) diff[i] += scale * w[i];
    });
  });
}

// ---- contractive: ||J_h(x)||_F^2 of a sigmoid encoder h = sigmoid(W x + b), mean over the batch ----
// Rifai et al. 2011: ||J||_F^2 = sum_j (h_j (1-h_j))^2 sum_i W_ji^2. Code h (N,H), weights W (H,D).

struct ContractiveShape {
  int64_t rows, units, features;
};

ContractiveShape contractive_shape(const hg_term_call* call) {
  check_inputs(call, 2, "code, weights");
  const hg_tensor& code = call->inputs[0];
  const hg_tensor& weights = call->inputs[1];
  if (code.rank != 2)
    throw std::runtime_error("code must have shape (N,H), got rank " + std::to_string(code.rank));
  if (weights.rank != 2)
    throw std::runtime_error("weights must have shape (H,D), got rank " + std::to_string(weights.rank));
  if (code.dims[1] != weights.dims[0])
    throw std::runtime_error("code has " + std::to_string(code.dims[1]) + " units but weights have " +
                             std::to_string(weights.dims[0]) +
                             " rows; weights must be the encoder's (H,D) = (units, input features)");
  return {code.dims[0], code.dims[1], weights.dims[1]};
}

// sum_i W_ji^2 for each unit j; one row of W per unit.
std::vector<double> squared_row_norms(const hg_term_call* call, const ContractiveShape& s) {
  const float* w = call->inputs[1].data;
  std::vector<double> norm(s.units);
  parallel_for(call, 0, s.units, lines_per_chunk(s.features), [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) {
      double sum = 0;
      for (int64_t i = 0; i < s.features; ++i)
        sum += static_cast<double>(w[j * s.features + i]) * w[j * s.features + i];
      norm[j] = sum;
    }
  });
  return norm;
}

double slope_squared(double h) {
  return (h * (1 - h)) * (h * (1 - h));
}

int contractive_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    const ContractiveShape s = contractive_shape(call);
    const std::vector<double> norm = squared_row_norms(call, s);
    const float* h = call->inputs[0].data;
    const double total = parallel_sum(call, s.rows, lines_per_chunk(s.units), [&](int64_t b, int64_t e) {
      double sum = 0;
      for (int64_t n = b; n < e; ++n)
        for (int64_t j = 0; j < s.units; ++j) sum += slope_squared(h[n * s.units + j]) * norm[j];
      return sum;
    });
    *value = total / static_cast<double>(s.rows);
  });
}

// The weights' gradient needs the column sums sum_n (h_nj(1-h_nj))^2, a vector-matrix product 1^T S of
// the (N,H) slope matrix S: the host's GEMM does it. S, the ones and the sums live in a workspace made once
// per use of the term (create), sized by the code's shape, so a training step allocates nothing for it.
struct ContractiveWorkspace {
  std::vector<float> slopes, ones, column;
  explicit ContractiveWorkspace(const ContractiveShape& s)
      : slopes(size_t(s.rows * s.units)), ones(size_t(s.rows), 1.0f), column(size_t(s.units)) {}
};

int contractive_create(const hg_term_call* call, void** state) {
  return guarded(call, [&] { *state = new ContractiveWorkspace(contractive_shape(call)); });
}

void contractive_destroy(void* state) {
  delete static_cast<ContractiveWorkspace*>(state);
}

// d/dh_nj = 2 h(1-h)(1-2h) sum_i W_ji^2 / N;  d/dW_ji = 2 W_ji sum_n (h_nj(1-h_nj))^2 / N.
int contractive_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    const ContractiveShape s = contractive_shape(call);
    check_diffs(call, diff_inputs);
    const float* h = call->inputs[0].data;
    const float* w = call->inputs[1].data;
    const double factor = scale / static_cast<double>(s.rows);
    if (float* diff_code = diff_inputs[0].data) {
      const std::vector<double> norm = squared_row_norms(call, s);
      parallel_for(call, 0, s.rows, lines_per_chunk(s.units), [&](int64_t b, int64_t e) {
        for (int64_t n = b; n < e; ++n)
          for (int64_t j = 0; j < s.units; ++j) {
            const double x = h[n * s.units + j];
            diff_code[n * s.units + j] +=
                static_cast<float>(factor * 2 * x * (1 - x) * (1 - 2 * x) * norm[j]);
          }
      });
    }
    if (float* diff_weights = diff_inputs[1].data) {
      // A caller that did not create the state (a test calling the function directly) gets a temporary one.
      std::unique_ptr<ContractiveWorkspace> owned;
      auto* workspace = static_cast<ContractiveWorkspace*>(call->state);
      if (!workspace || workspace->ones.size() != size_t(s.rows) ||
          workspace->column.size() != size_t(s.units))
        workspace = (owned = std::make_unique<ContractiveWorkspace>(s)).get();
      float* slopes = workspace->slopes.data();
      parallel_for(call, 0, s.rows * s.units, kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) slopes[i] = static_cast<float>(slope_squared(h[i]));
      });
      float* column = workspace->column.data();
      if (call->host->sgemm('N', 'N', 1, s.units, s.rows, 1.0f, workspace->ones.data(), s.rows, slopes,
                            s.units, 0.0f, column, s.units) != 0)
        throw std::runtime_error("the host's sgemm refused the column sums");
      parallel_for(call, 0, s.units, lines_per_chunk(s.features), [&](int64_t b, int64_t e) {
        for (int64_t j = b; j < e; ++j)
          for (int64_t i = 0; i < s.features; ++i)
            diff_weights[j * s.features + i] +=
                static_cast<float>(factor * 2 * w[j * s.features + i] * column[j]);
      });
    }
  });
}

// ---- kl_normal: KL(N(mu, sigma^2) || N(0, I)) of a VAE's code, sigma^2 = exp(logvar) (Kingma and Welling
// 2014, appendix B): -0.5 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), summed over features, mean over the
// batch. d/dmu = mu / N, d/dlogvar = 0.5 (exp(logvar) - 1) / N. ----

void check_kl_normal_inputs(const hg_term_call* call) {
  check_inputs(call, 2, "mu, logvar");
  if (num_elements(call->inputs[0]) != num_elements(call->inputs[1]))
    throw std::runtime_error("mu has " + std::to_string(num_elements(call->inputs[0])) +
                             " elements, logvar " + std::to_string(num_elements(call->inputs[1])));
}

int kl_normal_value(const hg_term_call* call, double* value) {
  return guarded(call, [&] {
    check_kl_normal_inputs(call);
    const float* mu = call->inputs[0].data;
    const float* logvar = call->inputs[1].data;
    const double total = parallel_sum(call, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
      double sum = 0;
      for (int64_t i = b; i < e; ++i) {
        const double m = mu[i], v = logvar[i];
        sum += -0.5 * (1 + v - m * m - std::exp(v));
      }
      return sum;
    });
    *value = total / static_cast<double>(batch_size(call->inputs[0]));
  });
}

int kl_normal_gradient(const hg_term_call* call, float scale, hg_tensor* diff_inputs) {
  return guarded(call, [&] {
    check_kl_normal_inputs(call);
    check_diffs(call, diff_inputs);
    const float* mu = call->inputs[0].data;
    const float* logvar = call->inputs[1].data;
    const double factor = scale / static_cast<double>(batch_size(call->inputs[0]));
    parallel_for(call, 0, num_elements(call->inputs[0]), kGrain, [&](int64_t b, int64_t e) {
      if (float* diff_mu = diff_inputs[0].data)
        for (int64_t i = b; i < e; ++i) diff_mu[i] += static_cast<float>(factor * mu[i]);
      if (float* diff_logvar = diff_inputs[1].data)
        for (int64_t i = b; i < e; ++i)
          diff_logvar[i] += static_cast<float>(factor * 0.5 * (std::exp(double(logvar[i])) - 1));
    });
  });
}

// ---- The table ----

// l1 and kl_sparsity average over the batch, so they are meant for activations (sparse codes); l2 is
// weight decay on one parameter tensor; contractive needs the code and its encoder's weights; kl_normal a
// VAE's two code heads.
const char* const kActivations[] = {"activations"};
const uint32_t kActivationKinds[] = {HG_INPUT_ACTIVATION};
const char* const kWeights[] = {"weights"};
const uint32_t kWeightsKinds[] = {HG_INPUT_PARAMETER};
const char* const kCodeWeights[] = {"code", "weights"};
const uint32_t kCodeWeightsKinds[] = {HG_INPUT_ACTIVATION, HG_INPUT_PARAMETER};
const char* const kMuLogvar[] = {"mu", "logvar"};
const uint32_t kMuLogvarKinds[] = {HG_INPUT_ACTIVATION, HG_INPUT_ACTIVATION};
const hg_param_spec kRhoParam[] = {{sizeof(hg_param_spec), "rho", HG_PARAM_FLOAT, 0.05, kMinMean,
                                    1 - kMinMean, "target mean activation of each unit, in (0,1)"}};

const hg_term kTerms[] = {
    {sizeof(hg_term), "l1", HG_TERM_REGULARIZER, 1, kActivations, kActivationKinds, 0, nullptr,
     "L1 sparsity sum_i |h_i| of activations (N,H...), mean over the batch", l1_value, l1_gradient, nullptr,
     nullptr, nullptr, nullptr},
    {sizeof(hg_term), "kl_sparsity", HG_TERM_REGULARIZER, 1, kActivations, kActivationKinds, 1, kRhoParam,
     "sum_j KL(rho || rho_hat_j), rho_hat_j the batch mean of unit j of activations (N,H) clamped to "
     "[1e-6, 1-1e-6]; the term's weight is beta",
     kl_sparsity_value, kl_sparsity_gradient, nullptr, nullptr, nullptr, nullptr},
    {sizeof(hg_term), "l2", HG_TERM_REGULARIZER, 1, kWeights, kWeightsKinds, 0, nullptr,
     "weight decay 0.5 * sum w^2 over a parameter tensor; the term's weight is lambda", l2_value, l2_gradient,
     nullptr, nullptr, nullptr, nullptr},
    {sizeof(hg_term), "contractive", HG_TERM_REGULARIZER, 2, kCodeWeights, kCodeWeightsKinds, 0, nullptr,
     "contractive penalty ||dh/dx||_F^2 of a sigmoid encoder: code h (N,H), its weights W (H,D); mean over "
     "the batch of sum_j (h_j(1-h_j))^2 sum_i W_ji^2",
     contractive_value, contractive_gradient, nullptr, nullptr, contractive_create, contractive_destroy},
    {sizeof(hg_term), "kl_normal", HG_TERM_REGULARIZER, 2, kMuLogvar, kMuLogvarKinds, 0, nullptr,
     "KL(N(mu, exp(logvar)) || N(0, I)) of a VAE's code: -0.5 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)), "
     "summed over features, mean over the batch",
     kl_normal_value, kl_normal_gradient, nullptr, nullptr, nullptr, nullptr},
};

const hg_plugin kPlugin = {HG_PLUGIN_ABI_VERSION_MAJOR,
                           HG_PLUGIN_ABI_VERSION_MINOR,
                           sizeof(hg_plugin),
                           "reg",
                           "1.0.0",
                           sizeof kTerms / sizeof kTerms[0],
                           kTerms};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hg_plugin* hourglass_plugin() {
  return &kPlugin;
}
