// hourglass's checkpoints and its resume policy, on top of the safetensors format (runtime/safetensors.h),
// so numpy and PyTorch users can open them. Parameters are stored under their
// stable names (node.weights, node.bias), the optimizer state as `__optimizer__.state0.<name>` (and state1
// for Adam), and __metadata__ records what `--resume` needs to continue bit-identically and a CRC-32 of the
// data. Writes are atomic (runtime/atomic_file.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/model.h"
#include "runtime/safetensors.h"

namespace hg {

// The reader is the format's own; the name stays for the code that opens checkpoints.
using CheckpointFile = SafetensorsFile;

// "__optimizer__.state0.code.weights": optimizer state `which` (0 or 1) of a parameter.
std::string optimizer_tensor_name(int which, const std::string& parameter);
bool is_optimizer_tensor(const std::string& name);

// Writes parameters, optimizer state, the epoch and step, the graph hash, the plugin terms with their
// versions and parameter values, the optimizer settings and the random-stream scheme. `metadata` is added.
void save_checkpoint(const std::string& path, Model& model,
                     const std::map<std::string, std::string>& metadata = {});

// Loads every parameter of the model from `path` (for eval, encode, show); optimizer tensors are ignored.
// A missing parameter, a shape or dtype mismatch, a checksum that does not match, or a malformed file is an
// hg::Error naming the file and the tensor. A file without a checksum adds a note to `notes` when given.
// Returns the header's __metadata__.
std::map<std::string, std::string> load_checkpoint(const std::string& path, Model& model,
                                                   std::vector<std::string>* notes = nullptr);

// Restores everything a run needs to continue exactly: parameters, optimizer state, step and epoch. The
// checkpoint must come from the same graph file (hash), seed, batch, optimizer kind and frozen set; anything
// else is an hg::Error naming both values, and so is an epoch or step that is not a whole number up to
// kMaxCheckpointCount. Returns notes on differences that are allowed but make the
// continuation differ from an uninterrupted run (a changed learning rate, another plugin version), and
// the note of a file without a checksum.
std::vector<std::string> resume_checkpoint(const std::string& path, Model& model);

// After resume_checkpoint: when this run's `epochs` differs from the `epochs` the checkpoint's run planned
// and the schedule spans the whole run (cosine), the learning rate does not continue where the checkpoint's
// run left it. Returns a warning naming both epoch counts and the rate before and after; "" otherwise (also
// for a file without `epochs`, written elsewhere).
std::string schedule_stretch_warning(const std::map<std::string, std::string>& metadata, const Model& model);

// The largest epoch or step a checkpoint may record: 2^53, far beyond any real run, and far enough below
// 2^63 that counting on from it cannot overflow.
constexpr int64_t kMaxCheckpointCount = int64_t(1) << 53;

// A fresh run (no --resume) is about to write `out`. When `out` already holds a checkpoint of another run
// (another graph file or hash, seed, batch, data slice, optimizer or frozen set) or a file that is not an
// hourglass checkpoint, this is an hg::Error that says how to continue it (--resume), keep it (another
// --out) or overwrite it (--force). When it holds this same run, the returned note says it will be
// started over; "" when `out` does not exist.
std::string check_fresh_output(const std::string& out, const Model& model);

}  // namespace hg
