// A graph's `data NAME = ...` statement after lowering: one source (IDX, numpy, CSV, a folder of images or
// patches cut from them), the slice taken from it, and the steps applied after it in the order written
// (split, subset, standardize, minmax). It is
// only a description; runtime/data_load.cpp reads the files and applies the steps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/diagnostics.h"

namespace hg {

// One step after the source, e.g. split(valid=0.1, seed=3, stratify=1, part="valid").
struct DataStep {
  enum class Kind { Patches, Split, Subset, Standardize, MinMax };
  Kind kind = Kind::Split;
  SourceLocation location;
  // Split: the fraction held out, and which part this binding is
  double valid = 0.1;
  bool valid_part = false;
  bool stratify = false;
  // Subset: the first n of a seeded order (0: all), balanced over classes; classes kept (and relabelled)
  int64_t n = 0;
  bool balanced = false;
  std::vector<int32_t> classes;
  bool relabel = false;
  uint64_t seed = 1;  // Patches, Split, Subset
  // Patches (always the first step, on images): count patches of size x size, per-patch mean removal, ZCA
  int64_t patch_size = 12, patch_count = 10000;
  bool remove_mean = false;
  double zca = 0;  // ZCA whitening's epsilon; 0: off
};

struct DataBinding {
  std::string name;  // e.g. "train", "test"
  SourceLocation location;
  std::string format = "idx";  // idx | npy | csv | images
  std::string images, labels;  // paths as written (resolved against the data directory at run time); for
                               // csv `images` is the table
  std::string label_column;    // csv: the label column's name ("" for none)
  std::vector<std::string> columns;  // csv: the feature columns, in order (empty: all but the label)
  bool header = true;                // csv: the first line names the columns (else they are "0", "1", ...)
  std::vector<int64_t> size;         // images: [C, H, W], or [C] inside patches(...)
  bool resize = false;               // images: resize (bilinear) rather than reject other sizes
  double scale = 1;
  int64_t skip = 0, count = 0;  // a slice of the files: pass over `skip` samples, then take `count` (0: all)
  std::vector<DataStep> steps;  // after the slice, in order

  // The per-feature transform's statistics once computed on the training data (or read from a checkpoint):
  // value = (x - offset[j]) * multiplier[j]. Empty until then.
  std::vector<float> offset, multiplier;

  // The source and its steps as graph text, e.g. `csv("t.csv", label="y") |> split(valid=0.1, seed=1)`;
  // checkpoints record the training data's so --resume can refuse another.
  std::string describe() const;
  const DataStep* transform() const;  // the standardize/minmax step, if any
};

}  // namespace hg
