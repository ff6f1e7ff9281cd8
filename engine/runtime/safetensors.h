// The safetensors file format (https://github.com/huggingface/safetensors), apart from what hourglass keeps
// in it: an 8-byte little-endian header length N, N bytes of JSON, then raw little-endian tensors tiling the
// data section. Reading checks a file against every rule of the format and turns each violation into a
// sentence naming the file, the tensor and the field; nothing here knows about models or training.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace hg {

// The safetensors library's own limit on the header; a larger length is a corrupt or hostile file.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

// The metadata key under which hourglass records the CRC-32 of the data section (8 lowercase hex digits).
inline const char* const kDataChecksumKey = "data_crc32";

// One tensor entry of the header; begin/end are byte offsets into the data section after the header.
struct StoredTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// Bytes per element of a safetensors dtype ("F32" -> 4), 0 for a dtype the format does not have.
int64_t safetensors_dtype_size(const std::string& dtype);

// An open safetensors file whose header has been checked against the format: every entry has a known
// dtype, a shape of non-negative integers and offsets of the matching size, the entries tile the data
// section without gaps or overlaps, and __metadata__ maps strings to strings. Anything else is an
// hg::Error naming the file (and the tensor and field where there is one).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  // The same checks on bytes in memory; `name` stands for the file in messages.
  SafetensorsFile(const std::string& name, std::string bytes);

  const std::string& path() const { return path_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::string metadata(const std::string& key) const;                    // "" when absent
  const std::vector<StoredTensor>& tensors() const { return tensors_; }  // in header order
  const StoredTensor* find(const std::string& name) const;
  uint64_t data_size() const { return data_size_; }

  // Reads an F32 tensor of exactly `dims` into dst. `need` finishes the message for a missing tensor.
  void read(const std::string& name, const std::vector<int64_t>& dims, float* dst,
            const std::string& need) const;

  // Compares the CRC-32 of the data section with the one recorded under kDataChecksumKey: a mismatch is
  // an hg::Error (the file changed after it was written); a file without one (written elsewhere, or by an
  // older hourglass) returns a note saying its tensors cannot be verified.
  std::optional<std::string> verify_checksum() const;

 private:
  void parse();

  std::string path_;
  std::map<std::string, std::string> metadata_;
  std::vector<StoredTensor> tensors_;
  uint64_t data_start_ = 0, data_size_ = 0;
  std::unique_ptr<std::istream> in_;
};

// An F32 tensor to write; `data` holds `count` floats.
struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
  int64_t count = 0;
};

// Writes an F32 safetensors file atomically (see write_file_atomically): header padded with spaces to keep
// the tensors 8-byte aligned, tensors in the given order, and the data section's CRC-32 recorded in the
// metadata under kDataChecksumKey after the given entries.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& metadata,
                       const std::vector<TensorToWrite>& tensors);

// CRC-32 (zlib's) of `size` bytes, continuing from `crc` (start with 0).
uint32_t safetensors_crc32(uint32_t crc, const void* data, size_t size);
std::string crc32_hex(uint32_t crc);

}  // namespace hg
