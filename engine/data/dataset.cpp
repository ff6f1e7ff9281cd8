// Dataset's derived sizes and its byte-to-float conversion, kept apart from the IDX reader so other file
// formats can fill a Dataset too.
#include "data/dataset.h"

namespace hg {

int64_t Dataset::features() const {
  int64_t product = 1;
  for (int64_t dim : item_dims) product *= dim;
  return product;
}

void Dataset::copy_image(int64_t i, float* dst) const {
  const int64_t n = features();
  const uint8_t* src = pixels.data() + i * n;
  const float factor = scale;  // a local, so the compiler need not reload it after every store to dst
  for (int64_t j = 0; j < n; ++j) dst[j] = float(src[j]) * factor;
}

}  // namespace hg
