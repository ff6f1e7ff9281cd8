// Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header, raw
// little-endian tensors), so numpy and PyTorch users can open them. Parameters are stored under their
// stable names (node.weights, node.bias), the optimizer state as `__optimizer__.state0.<name>` (and state1
// for Adam), and __metadata__ records what `--resume` needs to continue bit-identically. Writes are atomic:
// temporary file, fsync, rename, fsync of the folder.
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "runtime/model.h"

namespace hg {

// One tensor entry of the header; begin/end are byte offsets into the data section after the header.
struct StoredTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// An open safetensors file whose header has been checked against the spec: every entry has a known dtype,
// a shape and offsets of the matching size, and the entries tile the data section without gaps or overlaps.
// Anything else is an hg::Error naming the file and the tensor.
class CheckpointFile {
 public:
  explicit CheckpointFile(const std::string& path);
  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::string metadata(const std::string& key) const;                    // "" when absent
  const std::vector<StoredTensor>& tensors() const { return tensors_; }  // in header order
  const StoredTensor* find(const std::string& name) const;
  // Reads an F32 tensor of exactly `dims` into dst. `need` finishes the message for a missing tensor.
  void read(const std::string& name, const std::vector<int64_t>& dims, float* dst,
            const std::string& need) const;

 private:
  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::vector<StoredTensor> tensors_;
  uint64_t data_start_ = 0;
  mutable std::ifstream in_;
};

// "__optimizer__.state0.code.weights": optimizer state `which` (0 or 1) of a parameter.
std::string optimizer_tensor_name(int which, const std::string& parameter);
bool is_optimizer_tensor(const std::string& name);

// Writes parameters, optimizer state, the epoch and step, the graph hash, the plugin terms with their
// versions and parameter values, the optimizer settings and the random-stream scheme. `metadata` is added.
void save_checkpoint(const std::string& path, Model& model,
                     const std::map<std::string, std::string>& metadata = {});

// Loads every parameter of the model from `path` (for eval, encode, show); optimizer tensors are ignored.
// A missing parameter, a shape or dtype mismatch, or a malformed file is an hg::Error naming the file and the
// tensor. Returns the header's __metadata__.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model);

// Restores everything a run needs to continue exactly: parameters, optimizer state, step and epoch. The
// checkpoint must come from the same graph file (hash), seed, batch, optimizer kind and frozen set; anything
// else is an hg::Error naming both values. Returns notes on differences that are allowed but make the
// continuation differ from an uninterrupted run (a changed learning rate, another plugin version).
std::vector<std::string> resume_checkpoint(const std::string& path, Model& model);

}  // namespace hg
