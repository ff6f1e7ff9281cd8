// Reference batch and layer normalization: plain loops with the contracts in normalization.h, accumulating in
// double, one loop nest for both (batch norm's groups are channels, layer norm's samples). Tests compare the
// oneDNN kernels against these.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/normalization.h"

namespace hg {
namespace reference {
namespace {

// Calls visit(group, at) for every value of the plain (N, C, S) buffer, at its offset.
template <class Visit>
void for_each_value(const NormShape& s, Visit&& visit) {
  for (int64_t i = 0; i < s.batch; ++i)
    for (int64_t c = 0; c < s.channels; ++c)
      for (int64_t k = 0; k < s.pixels; ++k) visit(s.layer ? i : c, (i * s.channels + c) * s.pixels + k);
}

// The scale or shift that the value at offset `at` uses: its channel (batch norm) or element (layer norm).
int64_t parameter_of(const NormShape& s, int64_t at) {
  const int64_t element = at % (s.channels * s.pixels);
  return s.layer ? element : element / s.pixels;
}

double inverse_of(const NormShape& s, const float* variance, int64_t group) {
  return 1 / std::sqrt(double(variance[group]) + s.epsilon);
}

}  // namespace

void norm_forward(const NormShape& s, const float* src, const float* scale, const float* shift, float* mean,
                  float* variance, float* dst) {
  if (!s.global_stats) {
    const double m = double(s.batch * s.channels * s.pixels / s.groups());
    std::vector<double> sum(size_t(s.groups())), squares(size_t(s.groups()));
    for_each_value(s, [&](int64_t g, int64_t at) { sum[size_t(g)] += src[at]; });
    for_each_value(s, [&](int64_t g, int64_t at) {
      const double d = src[at] - sum[size_t(g)] / m;
      squares[size_t(g)] += d * d;
    });
    for (int64_t g = 0; g < s.groups(); ++g) {
      mean[g] = float(sum[size_t(g)] / m);
      variance[g] = float(squares[size_t(g)] / m);
    }
  }
  for_each_value(s, [&](int64_t g, int64_t at) {
    const int64_t p = parameter_of(s, at);
    dst[at] = float((src[at] - double(mean[g])) * inverse_of(s, variance, g) * scale[p] + shift[p]);
  });
}

void norm_backward_data(const NormShape& s, const float* diff_dst, const float* src, const float* scale,
                        const float* mean, const float* variance, float* diff_src) {
  const double m = double(s.batch * s.channels * s.pixels / s.groups());
  // Per group: sum(g dy) and sum(g dy xhat), g the scale; only batch statistics depend on them.
  std::vector<double> sum(size_t(s.groups())), dot(size_t(s.groups()));
  auto xhat = [&](int64_t g, int64_t at) { return (src[at] - double(mean[g])) * inverse_of(s, variance, g); };
  if (!s.global_stats)
    for_each_value(s, [&](int64_t g, int64_t at) {
      const double gdy = double(diff_dst[at]) * scale[parameter_of(s, at)];
      sum[size_t(g)] += gdy;
      dot[size_t(g)] += gdy * xhat(g, at);
    });
  for_each_value(s, [&](int64_t g, int64_t at) {
    const double gdy = double(diff_dst[at]) * scale[parameter_of(s, at)],
                 inverse = inverse_of(s, variance, g);
    diff_src[at] = s.global_stats
                       ? float(gdy * inverse)
                       : float(inverse / m * (m * gdy - sum[size_t(g)] - xhat(g, at) * dot[size_t(g)]));
  });
}

void norm_backward_scale(const NormShape& s, const float* diff_dst, const float* src, const float* mean,
                         const float* variance, float* diff_scale) {
  std::vector<double> sums(size_t(s.parameters()));
  for_each_value(s, [&](int64_t g, int64_t at) {
    sums[size_t(parameter_of(s, at))] +=
        double(diff_dst[at]) * (src[at] - double(mean[g])) * inverse_of(s, variance, g);
  });
  std::transform(sums.begin(), sums.end(), diff_scale, [](double v) { return float(v); });
}

void norm_backward_shift(const NormShape& s, const float* diff_dst, float* diff_shift) {
  std::vector<double> sums(size_t(s.parameters()));
  for_each_value(s, [&](int64_t, int64_t at) { sums[size_t(parameter_of(s, at))] += diff_dst[at]; });
  std::transform(sums.begin(), sums.end(), diff_shift, [](double v) { return float(v); });
}

}  // namespace reference
}  // namespace hg
