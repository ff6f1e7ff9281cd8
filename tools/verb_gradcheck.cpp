// `hourglass gradcheck TERM`: checks a plugin term's derivatives against central finite differences, so a
// plugin author finds a wrong gradient before it silently spoils training. A loss or regularizer's
// `gradient` is checked against its `value`; a corruption's `apply_gradient` against `apply` (same seed),
// through f(x) = sum_k r_k apply(x)_k with fixed random weights r, whose gradient is apply_gradient(r).
// Inputs are random floats of the shapes given; differences are taken in double around the stored floats.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <random>
#include <sstream>

#include "common.h"
#include "kernels/threading.h"
#include "plugin/registry.h"

namespace hg::tools {

namespace {

constexpr double kTolerance = 1e-2;
constexpr int64_t kMaxElements = 1 << 16;  // each element costs two calls of the term

// Errors relative to the larger gradient, but absolute below 1: a float gradient near 0 carries rounding
// noise of the order of the value's, which a purely relative error would magnify without bound.
double relative_error(double analytic, double numeric) {
  return std::fabs(analytic - numeric) / std::max({std::fabs(analytic), std::fabs(numeric), 1.0});
}

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> dims;
  std::stringstream in(text);
  std::string part;
  while (std::getline(in, part, 'x')) {
    char* end = nullptr;
    const long long d = std::strtoll(part.c_str(), &end, 10);
    if (part.empty() || *end || d < 1 || d > kMaxElements)
      throw po::error("--shape " + text + ": expected sizes such as 16x32, each from 1 to " +
                      std::to_string(kMaxElements));
    dims.push_back(d);
  }
  if (dims.empty() || dims.size() > HG_MAX_RANK)
    throw po::error("--shape " + text + ": expected 1 to " + std::to_string(HG_MAX_RANK) + " sizes");
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  if (n > kMaxElements)
    throw po::error("--shape " + text + " has " + std::to_string(n) +
                    " elements; gradcheck calls the term twice "
                    "per element, so it takes at most " +
                    std::to_string(kMaxElements));
  return dims;
}

// Shapes that fit every built-in term: a batch of 4 rows of 8 for data and activations, (8, 6) for a
// parameter, so that an encoder's weights (H, D) match a code (N, H).
std::vector<int64_t> default_shape(uint32_t kinds) {
  return kinds == HG_INPUT_PARAMETER ? std::vector<int64_t>{8, 6} : std::vector<int64_t>{4, 8};
}

struct Input {
  std::vector<int64_t> dims;
  std::vector<float> data;
  hg_tensor view() {
    hg_tensor t{};
    t.data = data.data();
    t.rank = int32_t(dims.size());
    std::copy(dims.begin(), dims.end(), t.dims);
    return t;
  }
};

// Values in (0.05, 0.95), where every built-in term is smooth (probabilities, sigmoid codes); a label input
// gets one-hot rows.
void fill(Input& input, uint32_t kinds, std::mt19937& rng) {
  int64_t n = 1;
  for (int64_t d : input.dims) n *= d;
  input.data.assign(size_t(n), 0.0f);
  if (kinds == HG_INPUT_LABEL) {
    const int64_t rows = input.dims[0], classes = n / rows;
    for (int64_t r = 0; r < rows; ++r)
      input.data[size_t(r * classes + int64_t(rng() % uint64_t(classes)))] = 1;
    return;
  }
  std::uniform_real_distribution<float> uniform(0.05f, 0.95f);
  for (float& x : input.data) x = uniform(rng);
}

std::vector<double> parameter_values(const TermRef& term, const std::vector<std::string>& settings) {
  const hg_term& t = *term.term;
  std::vector<double> values;
  for (int32_t p = 0; p < t.num_params; ++p) values.push_back(t.params[p].default_value);
  for (const std::string& setting : settings) {
    const size_t eq = setting.find('=');
    const std::string name = setting.substr(0, eq);
    int32_t index = -1;
    std::vector<std::string> names;
    for (int32_t p = 0; p < t.num_params; ++p) {
      names.push_back(t.params[p].name);
      if (name == t.params[p].name) index = p;
    }
    if (eq == std::string::npos || index < 0)
      throw po::error("--param " + setting + ": '" + term.full_name + "' has no parameter '" + name + "'" +
                      did_you_mean(name, names) + " (expected NAME=VALUE)");
    char* end = nullptr;
    const double v = std::strtod(setting.c_str() + eq + 1, &end);
    const hg_param_spec& spec = t.params[index];
    if (eq + 1 == setting.size() || *end || !(v >= spec.min_value && v <= spec.max_value) ||
        (spec.type == HG_PARAM_INT && v != std::floor(v)))
      throw po::error("--param " + setting + ": '" + name + "' must be " +
                      (spec.type == HG_PARAM_INT ? "an integer" : "a number") + " in [" +
                      std::to_string(spec.min_value) + ", " + std::to_string(spec.max_value) + "]");
    values[size_t(index)] = v;
  }
  return values;
}

}  // namespace

int verb_gradcheck(const std::vector<std::string>& args) {
  std::vector<std::string> plugin_dirs, shapes, params;
  std::string term_name;
  unsigned seed = 1;
  po::options_description options("gradcheck options");
  options.add_options()("shape", po::value(&shapes)->composing(),
                        "an input's shape, such as 16x32 (batch first for data and activations); once per "
                        "input, in order; default 4x8, or 8x6 for a parameter")(
      "param", po::value(&params)->composing(), "a term parameter, NAME=VALUE (default: its default)")(
      "seed", po::value(&seed), "seed of the random inputs (default 1)")(
      "plugin-dir", po::value(&plugin_dirs)->composing(), "also load plugins from this folder")(
      "help,h", "show this help");
  po::options_description hidden;
  hidden.add_options()("term", po::value(&term_name));
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("term", 1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  if (vm.count("help")) {
    std::cout
        << "usage: hourglass gradcheck TERM [--shape DIMS]... [--param NAME=VALUE]... [--plugin-dir DIR]\n\n"
           "Checks a term's derivatives against central differences, f(x+h) - f(x-h) over the stored\n"
           "floats' difference, in double, h = 1e-3 max(1, |x|): a loss or regularizer's gradient against\n"
           "its value, a corruption's apply_gradient against apply (same seed). Inputs are random in\n"
           "(0.05, 0.95) (labels one-hot). Prints the worst error of each input, |analytic - numeric| /\n"
           "max(|analytic|, |numeric|, 1), and exits 1 when one is above the tolerance, 1e-2.\n\n"
        << options << "\n";
    return 0;
  }
  po::notify(vm);
  if (term_name.empty()) throw po::error("gradcheck needs a TERM, such as reg.l2");
  check_plugin_dirs(plugin_dirs);
  PluginRegistry registry;
  for (const std::string& dir : PluginRegistry::default_search_path(plugin_dirs)) registry.load_folder(dir);
  const TermRef* term = registry.find(term_name);
  if (!term)
    throw po::error("unknown term '" + term_name + "'" + did_you_mean(term_name, registry.term_names()) +
                    " (`hourglass plugins` lists the terms)");
  const hg_term& t = *term->term;
  if (shapes.size() > size_t(t.num_inputs))
    throw po::error(std::to_string(shapes.size()) + " --shape for '" + term_name + "', which takes " +
                    std::to_string(t.num_inputs) + " input" + (t.num_inputs == 1 ? "" : "s"));
  const std::vector<double> param_values = parameter_values(*term, params);

  std::mt19937 rng(seed);
  std::vector<Input> inputs(size_t(t.num_inputs));
  for (int32_t i = 0; i < t.num_inputs; ++i) {
    inputs[size_t(i)].dims =
        size_t(i) < shapes.size() ? parse_shape(shapes[size_t(i)]) : default_shape(t.input_kinds[i]);
    fill(inputs[size_t(i)], t.input_kinds[i], rng);
  }
  std::vector<hg_tensor> views;
  for (Input& input : inputs) views.push_back(input.view());
  const SourceLocation where{"gradcheck"};
  hg_term_call base{};
  base.host = plugin_host();
  base.params = param_values.data();
  base.num_inputs = t.num_inputs;
  base.inputs = views.data();
  base.seed = 0x5EED0000u + seed;
  base.training = 1;
  const std::shared_ptr<TermState> state = create_term_state(*term, base, where);
  base.state = state->get();

  const bool corruption = t.kind == HG_TERM_CORRUPTION;
  std::vector<float> weights, out;  // a corruption's r and apply's output
  if (corruption) {
    weights.resize(inputs[0].data.size());
    std::uniform_real_distribution<float> uniform(-1, 1);
    for (float& r : weights) r = uniform(rng);
    out.resize(weights.size());
  }
  const auto objective = [&] {
    if (!corruption) return call_term_value(*term, base, where);
    hg_tensor dst = views[0];
    dst.data = out.data();
    call_term_apply(*term, base, &dst, where);
    double sum = 0;
    for (size_t k = 0; k < out.size(); ++k) sum += double(weights[k]) * out[k];
    return sum;
  };

  bool ok = true;
  for (int32_t i = 0; i < t.num_inputs; ++i) {
    std::vector<float>& x = inputs[size_t(i)].data;
    std::vector<float> analytic(x.size(), 0.0f);
    if (corruption) {
      hg_tensor diff_dst = views[0], diff_src = views[0];
      diff_dst.data = weights.data();
      diff_src.data = analytic.data();
      call_term_apply_gradient(*term, base, &diff_dst, &diff_src, where);
    } else {
      std::vector<hg_tensor> diffs = views;
      for (size_t j = 0; j < diffs.size(); ++j) diffs[j].data = int32_t(j) == i ? analytic.data() : nullptr;
      call_term_gradient(*term, base, 1.0f, diffs.data(), where);
    }
    double worst = 0;
    size_t worst_at = 0;
    double worst_analytic = 0, worst_numeric = 0;
    for (size_t k = 0; k < x.size(); ++k) {
      const float saved = x[k];
      const float h = 1e-3f * std::max(1.0f, std::fabs(saved));
      const float plus = saved + h, minus = saved - h;
      x[k] = plus;
      const double up = objective();
      x[k] = minus;
      const double down = objective();
      x[k] = saved;
      const double numeric = (up - down) / (double(plus) - double(minus));
      const double error = relative_error(analytic[k], numeric);
      if (error > worst || k == 0) {
        worst = error, worst_at = k;
        worst_analytic = analytic[k], worst_numeric = numeric;
      }
    }
    std::string shape;
    for (int64_t d : inputs[size_t(i)].dims) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    std::printf(
        "%s input '%s' [%s]: worst relative error %.3g at element %zu (analytic %.6g, numeric %.6g)%s\n",
        term_name.c_str(), t.input_names[i], shape.c_str(), worst, worst_at, worst_analytic, worst_numeric,
        worst > kTolerance ? "  FAIL" : "");
    if (worst > kTolerance) {
      ok = false;
      std::fprintf(stderr,
                   "gradcheck: error: %s of '%s' disagrees with finite differences for input '%s': "
                   "worst relative error %.3g > tolerance %g\n",
                   corruption ? "apply_gradient" : "gradient", term_name.c_str(), t.input_names[i], worst,
                   kTolerance);
    }
  }
  if (ok) std::printf("%s: ok (tolerance %g)\n", term_name.c_str(), kTolerance);
  return ok ? 0 : 1;
}

}  // namespace hg::tools
