// Dataset's derived sizes, kept apart from the IDX reader so other file formats can fill a Dataset too.
#include "data/dataset.h"

namespace hg {

int64_t Dataset::features() const {
  int64_t product = 1;
  for (int64_t dim : item_dims) product *= dim;
  return product;
}

}  // namespace hg
