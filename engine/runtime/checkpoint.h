// Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header, raw
// little-endian tensors), so numpy and PyTorch users can open them. Parameters are stored under their
// stable names (node.weights, node.bias). Writes are atomic: temporary file, fsync, rename.
#pragma once

#include <map>
#include <string>

#include "runtime/model.h"

namespace hg {

// `metadata` lands in the header's __metadata__ next to what the model records itself (graph hash, terms).
void save_checkpoint(const std::string& path, Model& model,
                     const std::map<std::string, std::string>& metadata);

// Loads every parameter of the model from `path`. A missing parameter, a shape or dtype mismatch, or a
// malformed file is an hg::Error naming the file and the tensor. Returns the header's __metadata__.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model);

}  // namespace hg
