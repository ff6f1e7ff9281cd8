// Reference nearest-neighbour upsampling: plain loops with the contract in upsample.h (planes = N*C planes of
// H x W in src, of H*F x W*F in dst). Tests compare the oneDNN kernels against these.
#include <algorithm>

#include "kernels/upsample.h"

namespace hg {
namespace reference {

void upsample_forward(const UpsampleShape& s, const float* src, float* dst) {
  const int64_t f = s.factor, w = s.width, W = w * f;
  for (int64_t p = 0; p < s.batch * s.channels; ++p)
    for (int64_t y = 0; y < s.height * f; ++y) {
      const float* row = src + (p * s.height + y / f) * w;
      float* out = dst + (p * s.height * f + y) * W;
      for (int64_t x = 0; x < W; ++x) out[x] = row[x / f];
    }
}

void upsample_backward(const UpsampleShape& s, const float* diff_dst, float* diff_src) {
  const int64_t f = s.factor, w = s.width, W = w * f, planes = s.batch * s.channels;
  std::fill(diff_src, diff_src + planes * s.height * w, 0.0f);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t y = 0; y < s.height * f; ++y) {
      const float* row = diff_dst + (p * s.height * f + y) * W;
      float* out = diff_src + (p * s.height + y / f) * w;
      for (int64_t x = 0; x < W; ++x) out[x / f] += row[x];
    }
}

}  // namespace reference
}  // namespace hg
