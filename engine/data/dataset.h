// In-memory datasets read from IDX files (MNIST, Fashion-MNIST; gzipped or not). Images stay the file's
// bytes, one per pixel, and become f32 (byte * scale) only as a sample is copied out, so MNIST's 60000
// training images take 47 MB rather than 188 MB; labels stay integers. Every malformed file is an hg::Error
// naming the file and the problem (wrong magic, impossible dimensions, truncation, image/label count
// mismatch).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace hg {

struct Dataset {
  std::string images_path, labels_path;
  int64_t count = 0;               // number of samples
  std::vector<int64_t> item_dims;  // dims of one image, e.g. {28, 28}
  std::vector<uint8_t> pixels;     // count * features() bytes, row-major, as they are in the file
  float scale = 1.0f;              // a pixel's value is float(byte) * scale
  std::vector<int32_t> labels;     // count entries, or empty when no label file was given
  int32_t num_classes = 0;         // max label + 1 (0 without labels)

  int64_t features() const;  // product of item_dims
  // Writes sample i's features() values, float(byte) * scale each, to dst (no allocation).
  void copy_image(int64_t i, float* dst) const;
};

struct IdxOptions {
  std::string images_path;
  std::string labels_path;  // optional
  float scale = 1.0f;       // each byte is multiplied by this
  int64_t limit = 0;        // read only the first `limit` samples (after `skip`) when > 0
  int64_t skip = 0;         // samples at the start of the file to pass over (a train/valid split, say)
};

// Reads an IDX file pair; a path ending in ".gz" is decompressed with zlib.
Dataset read_idx(const IdxOptions& options);

}  // namespace hg
