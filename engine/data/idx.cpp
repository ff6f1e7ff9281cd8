// read_idx: loads an images file and an optional labels file as one Dataset. Both headers are checked
// against each other before any data is read, so a mismatched pair fails fast, naming both files.
#include <algorithm>
#include <optional>
#include <utility>

#include "data/dataset.h"
#include "data/idx_file.h"
#include "support/diagnostics.h"

namespace hg {

namespace {

void check_images_header(const IdxFile& images) {
  const IdxHeader& header = images.header();
  if (header.dims.size() < 2)
    images.fail(
        "an images file needs at least 2 dimensions (the count, then the dims of one item), but the "
        "header has 1 (" +
        header.dims_str() + ")");
}

void check_labels_header(const IdxFile& labels) {
  const IdxHeader& header = labels.header();
  if (header.dims.size() != 1)
    labels.fail("a labels file has 1 dimension (the count), but the header has " +
                std::to_string(header.dims.size()) + " (" + header.dims_str() + ")");
}

void check_counts_agree(const IdxFile& images, const IdxFile& labels) {
  const int64_t image_count = images.header().count(), label_count = labels.header().count();
  if (image_count != label_count)
    images.fail(std::to_string(image_count) + " images, but labels file '" + labels.path() + "' has " +
                std::to_string(label_count) + " labels; the two files must hold the same samples");
}

}  // namespace

Dataset read_idx(const IdxOptions& options) {
  HG_ASSERT(!options.images_path.empty(), "read_idx needs an images file; the caller should have said so");
  IdxFile images(options.images_path);
  check_images_header(images);
  std::optional<IdxFile> labels;
  if (!options.labels_path.empty()) {
    labels.emplace(options.labels_path);
    check_labels_header(*labels);
    check_counts_agree(images, *labels);
  }

  Dataset dataset;
  dataset.images_path = options.images_path;
  dataset.labels_path = options.labels_path;
  const int64_t in_file = images.header().count();
  if (options.skip < 0 || options.skip >= in_file)
    images.fail("cannot skip " + std::to_string(options.skip) + " samples: the file holds " +
                std::to_string(in_file));
  const int64_t available = in_file - options.skip;
  dataset.count = options.limit > 0 ? std::min(options.limit, available) : available;
  const std::vector<int64_t>& dims = images.header().dims;
  dataset.item_dims.assign(dims.begin() + 1, dims.end());
  // Skipped samples are read and dropped: files are read front to back (gzip cannot seek).
  const int64_t item_bytes = images.header().item_bytes();
  // Reserved at its peak (skipped samples read, then the kept ones copied), held at what stays.
  const double read = double(options.skip + dataset.count), kept = double(dataset.count);
  const double label_bytes = labels ? read + kept * sizeof(int32_t) : 0;
  const double peak = read * double(item_bytes) + (options.skip > 0 ? kept * double(item_bytes) : 0);
  IdxHeader item = images.header();
  item.dims.erase(item.dims.begin());
  auto memory = std::make_shared<MemoryCharge>(reserve_memory(
      peak + label_bytes, SourceLocation{options.images_path},
      "loading " + std::to_string(dataset.count) + " samples of " + item.dims_str() + " bytes" +
          (options.skip > 0 ? " after skipping " + std::to_string(options.skip) : "") +
          (labels ? ", with their labels," : "") + " needs"));
  std::vector<uint8_t> pixels = images.read_samples(options.skip + dataset.count);
  if (options.skip > 0)  // keep a copy of the kept samples alone, so the skipped ones' memory is returned
    pixels = std::vector<uint8_t>(pixels.begin() + options.skip * item_bytes, pixels.end());
  dataset.pixels = std::move(pixels);  // bytes as read; Dataset::copy_image scales them
  dataset.scale = options.scale;
  if (labels) {
    const std::vector<uint8_t> bytes = labels->read_samples(options.skip + dataset.count);
    dataset.labels.assign(bytes.begin() + options.skip, bytes.end());
    dataset.num_classes = 1 + *std::max_element(dataset.labels.begin(), dataset.labels.end());
  }
  memory->shrink_to(uint64_t(kept * double(item_bytes) + (labels ? kept * sizeof(int32_t) : 0)));
  dataset.memory = std::move(memory);
  return dataset;
}

}  // namespace hg
