// Datasets as the training loop sees them: `count` samples of `features()` values and optional integer
// labels. Samples stay in the element type of their file (IDX bytes, a numpy array's dtype, CSV cells as
// float32), either owned (`pixels`) or inside a read-only memory mapping (`mapped`), and become float
// (value * scale, then the per-feature transform) only as a sample is copied out. Splits and subsets keep
// the storage and list the rows they use, so no step copies the samples.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/memory_budget.h"

namespace hg {

enum class DType : uint8_t { U8, I8, U16, I16, U32, I32, U64, I64, F32, F64 };
int dtype_bytes(DType t);
const char* dtype_name(DType t);  // numpy's names: "uint8", "float32", ...

// A read-only memory mapping of a data file. An epoch reads every sample of it once, and the pages it touched
// would stay mapped: the process's resident set would grow to the file's size, however large. So a mapping
// larger than kResidentBudget releases its pages (madvise MADV_DONTNEED) whenever the process's resident
// file pages exceed that budget. They stay in the page cache while memory allows, and a later read maps
// them again; a file smaller than the budget stays mapped whole.
class FileMapping {
 public:
  static constexpr int64_t kResidentBudget = int64_t(256) << 20;
  FileMapping(const uint8_t* bytes, int64_t size) : bytes_(bytes), size_(size) {}
  ~FileMapping();  // unmaps
  FileMapping(const FileMapping&) = delete;
  FileMapping& operator=(const FileMapping&) = delete;
  const uint8_t* bytes() const { return bytes_; }
  int64_t size() const { return size_; }
  // Called for every sample read; safe from several threads at once.
  void note_read(int64_t bytes) const;

 private:
  const uint8_t* bytes_;
  int64_t size_;
  mutable std::atomic<int64_t> read_since_check_{0};
};

struct Dataset {
  std::string images_path, labels_path;
  int64_t count = 0;               // number of samples
  std::vector<int64_t> item_dims;  // dims of one sample, e.g. {28, 28}
  std::vector<uint8_t> pixels;     // owned storage: rows of features() elements of `dtype`, row-major
  std::shared_ptr<const FileMapping> mapping;  // the mapped file `mapped` points into, kept open
  const uint8_t* mapped = nullptr;             // when set, the rows are here instead of in `pixels`
  DType dtype = DType::U8;
  bool swap_bytes = false;               // big-endian elements (a numpy '>f4' array)
  float scale = 1.0f;                    // a value is float(element) * scale
  std::vector<int64_t> rows;             // when not empty, sample i is stored row rows[i] (a split or subset)
  std::vector<int32_t> labels;           // count entries, or empty when there are no labels
  int32_t num_classes = 0;               // max label + 1 (0 without labels)
  std::vector<std::string> class_names;  // index -> name where the labels were names (CSV); else empty
  // Per-feature transform applied after the scale: value = (value - offset[j]) * multiplier[j]. Empty: none.
  std::vector<float> offset, multiplier;
  // The memory budget the samples and labels hold (support/memory_budget.h): owned storage, or the resident
  // part of a mapping (at most FileMapping::kResidentBudget). Shared by the splits and subsets of the data.
  std::shared_ptr<const MemoryCharge> memory;

  int64_t features() const;  // product of item_dims
  int64_t row(int64_t i) const { return rows.empty() ? i : rows[size_t(i)]; }
  // Writes sample i's features() values to dst (no allocation).
  void copy_image(int64_t i, float* dst) const;
  // Sample i's values before the per-feature transform (what the transform's statistics are computed on).
  void copy_untransformed(int64_t i, float* dst) const;
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

// A numpy .npy file (format 1.0, 2.0 or 3.0; C order; u1/i1/u2/i2/u4/i4/u8/i8/f4/f8, either byte order),
// memory-mapped: the samples are read from the mapping as batches are gathered, never copied whole. The
// first axis counts samples, the rest are a sample's dims. Labels: a 1-D (or N x 1) integer .npy (float
// arrays of whole numbers are accepted), each in [0, 2^20).
struct NpyOptions {
  std::string path, labels_path;
  float scale = 1.0f;
  int64_t limit = 0, skip = 0;  // as for IDX
};
Dataset read_npy(const NpyOptions& options);

// A CSV table (plain or .gz): a header row naming the columns (or none: columns are then "0", "1", ...),
// then one row per sample of numeric cells. The label column, by name, holds either non-negative whole
// numbers (used as they are) or class names (sorted, then numbered from 0: Dataset::class_names). A ragged
// row, a missing or non-numeric cell is an error at file:line:column.
struct CsvOptions {
  std::string path;
  std::string label_column;          // "" for none
  std::vector<std::string> columns;  // features, in this order; empty: every column but the label
  bool header = true;
  float scale = 1.0f;
  int64_t limit = 0, skip = 0;
};
Dataset read_csv(const CsvOptions& options);

// A folder of PNG/JPEG images: one subfolder per class (names sorted, numbered from 0), or the images
// directly inside it (no labels). Each is converted to `channels` (1: luma, 3: RGB; alpha dropped). An image
// that is not height x width is an error naming it, unless `resize`: then it is resized bilinearly.
struct ImagesOptions {
  std::string folder;
  int64_t channels = 1, height = 0, width = 0;
  bool resize = false;
  float scale = 1.0f;
  int64_t limit = 0, skip = 0;  // over the images in listing order
};
Dataset read_images(const ImagesOptions& options);

// `count` random size x size patches (float32, [C, size, size]) from the folder's images, whatever their
// sizes: each from an image chosen uniformly, at a uniform position (seeded). Options: subtract each patch's
// own mean; ZCA-whiten all patches with epsilon (0: off), computed on these patches.
struct PatchOptions {
  int64_t size = 12, count = 10000;
  uint64_t seed = 1;
  bool remove_mean = false;
  double zca_epsilon = 0;
};
Dataset read_patches(const ImagesOptions& images, const PatchOptions& patches);
// x (count x n, row-major) -> W (x - mean), W = U diag(1/sqrt(lambda + epsilon)) U^T of x's covariance.
void zca_whiten(float* x, int64_t count, int64_t n, double epsilon);

// ---- steps on a dataset (select.cpp); each keeps the storage and changes `rows`/`labels` ----
// Positions 0..count-1 of a seeded split: `valid` of the samples (rounded; per class when stratified) go to
// the validation part. Both parts come back in ascending order.
std::vector<int64_t> split_positions(const Dataset& data, double valid, uint64_t seed, bool stratify,
                                     bool valid_part);
// The seeded order a subset takes its first n from (n <= 0: all), restricted to `classes` when given. A
// balanced order deals the classes round-robin (each class in its own seeded order), so any first n is
// balanced to within one sample per class, and the first n of a seed are inside its first m > n.
std::vector<int64_t> subset_positions(const Dataset& data, int64_t n, bool balanced, uint64_t seed,
                                      const std::vector<int32_t>& classes);
// The samples at `positions`, in that order, sharing `data`'s storage (moved in); num_classes becomes the
// largest label left + 1.
Dataset select(Dataset data, const std::vector<int64_t>& positions);
// Relabels class classes[k] as k (after a subset restricted to those classes).
void relabel(Dataset& data, const std::vector<int32_t>& classes);
// Per-feature statistics over every sample, before any transform: value -> (value - mean) / std (a
// constant feature keeps multiplier 1), or (value - min) / (max - min).
void compute_standardize(const Dataset& data, std::vector<float>& offset, std::vector<float>& multiplier);
void compute_minmax(const Dataset& data, std::vector<float>& offset, std::vector<float>& multiplier);

}  // namespace hg
