// Reading safetensors files against the format's rules, writing F32 ones atomically, and the CRC-32 of the
// data section that lets a reader tell a damaged file from a good one. Every JSON value is checked for its
// type before it is used, so no raw parser exception reaches the user.
#include "runtime/safetensors.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "runtime/atomic_file.h"
#include "support/diagnostics.h"
#include "support/memory_budget.h"

namespace hg {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors data is raw little-endian");

namespace {

using json = nlohmann::ordered_json;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + "]";
}

// A JSON value as the user would read it in the file, shortened so a huge value cannot flood a message.
std::string shown(const json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return text;
}

// A non-negative integer that fits `limit`: 4 and 4.0 are not the same to JSON readers, and 1e30 or 2.9
// as a dimension is a corrupt file, not something to round.
bool as_count(const json& value, uint64_t limit, uint64_t& out) {
  if (value.is_number_unsigned()) {
    out = value.get<uint64_t>();
    return out <= limit;
  }
  return false;  // negative integers, floats and everything else
}

StoredTensor parse_entry(const std::string& name, const json& entry, const SourceLocation& where,
                         uint64_t data_size) {
  const std::string tensor = "tensor '" + name + "'";
  if (!entry.is_object())
    throw Error(where, tensor + ": its header entry is " + shown(entry) +
                           ", not an object with dtype, shape and data_offsets");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!entry.contains(field)) throw Error(where, tensor + " has no '" + field + "' field");
  StoredTensor t;
  t.name = name;
  const json& dtype = entry["dtype"];
  if (!dtype.is_string()) throw Error(where, tensor + ": 'dtype' is " + shown(dtype) + ", not a string");
  t.dtype = dtype.get<std::string>();
  const int64_t element = safetensors_dtype_size(t.dtype);
  if (element == 0) throw Error(where, tensor + " has the unknown dtype '" + t.dtype + "'");

  const json& shape = entry["shape"];
  if (!shape.is_array()) throw Error(where, tensor + ": 'shape' is " + shown(shape) + ", not a list");
  for (size_t i = 0; i < shape.size(); ++i) {
    uint64_t d = 0;
    if (!as_count(shape[i], uint64_t(INT64_MAX), d)) {
      if (shape[i].is_number_integer() && !shape[i].is_number_unsigned())
        throw Error(where, tensor + " has a negative dimension in 'shape' " + shown(shape));
      throw Error(where, tensor + ": 'shape' entry " + std::to_string(i) + " is " + shown(shape[i]) +
                             ", not a whole number from 0 to " + std::to_string(INT64_MAX));
    }
    t.shape.push_back(int64_t(d));
  }

  const json& offsets = entry["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    throw Error(where, tensor + ": 'data_offsets' is " + shown(offsets) + ", not [begin, end]");
  if (!as_count(offsets[0], UINT64_MAX, t.begin) || !as_count(offsets[1], UINT64_MAX, t.end))
    throw Error(where, tensor + ": 'data_offsets' " + shown(offsets) + " are not two byte offsets");

  uint64_t bytes = uint64_t(element);
  for (int64_t d : t.shape)
    if (__builtin_mul_overflow(bytes, uint64_t(d), &bytes)) bytes = UINT64_MAX;  // saturate; a 0 still zeroes
  const std::string range = "[" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
  if (t.end < t.begin || t.end - t.begin != bytes)
    throw Error(where, tensor + " is " + t.dtype + " " + shape_text(t.shape) + " (" + std::to_string(bytes) +
                           " bytes), but its data_offsets " + range + " do not span that");
  if (t.end > data_size)
    throw Error(where, tensor + " has data_offsets " + range + " past the end of the data (" +
                           std::to_string(data_size) + " bytes): the file is truncated or corrupt");
  return t;
}

// The format demands the data section be entirely indexed, without holes or overlaps.
void check_tiling(const std::vector<StoredTensor>& tensors, const SourceLocation& where, uint64_t data_size) {
  std::vector<const StoredTensor*> by_offset;
  for (const StoredTensor& t : tensors) by_offset.push_back(&t);
  std::stable_sort(by_offset.begin(), by_offset.end(),
                   [](const StoredTensor* a, const StoredTensor* b) { return a->begin < b->begin; });
  uint64_t covered = 0;
  for (const StoredTensor* t : by_offset) {
    if (t->begin != covered)
      throw Error(where, "tensor '" + t->name + "' starts at byte " + std::to_string(t->begin) +
                             " of the data, but the tensors before it end at " + std::to_string(covered) +
                             " (safetensors allows no gaps or overlaps)");
    covered = t->end;
  }
  if (covered != data_size)
    throw Error(where, "the tensors cover " + std::to_string(covered) + " bytes, but the data section has " +
                           std::to_string(data_size) + " (safetensors allows no trailing bytes)");
}

}  // namespace

int64_t safetensors_dtype_size(const std::string& dtype) {
  static const std::map<std::string, int64_t> sizes = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1}, {"U16", 2}, {"I16", 2}, {"F16", 2},
      {"BF16", 2}, {"U32", 4}, {"I32", 4}, {"F32", 4},     {"U64", 8},     {"I64", 8}, {"F64", 8}};
  auto it = sizes.find(dtype);
  return it == sizes.end() ? 0 : it->second;
}

uint32_t safetensors_crc32(uint32_t crc, const void* data, size_t size) {
  return uint32_t(crc32_z(crc, static_cast<const Bytef*>(data), size));
}

std::string crc32_hex(uint32_t crc) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", crc);
  return buffer;
}

SafetensorsFile::SafetensorsFile(const std::string& path)
    : path_(path), in_(std::make_unique<std::ifstream>(path, std::ios::binary)) {
  if (!*in_) throw Error({path, 0, 0}, "cannot read checkpoint: " + std::string(std::strerror(errno)));
  parse();
}

SafetensorsFile::SafetensorsFile(const std::string& name, std::string bytes)
    : path_(name), in_(std::make_unique<std::istringstream>(std::move(bytes))) {
  parse();
}

void SafetensorsFile::parse() {
  const SourceLocation where{path_, 0, 0};
  in_->seekg(0, std::ios::end);
  const std::streamoff end = in_->tellg();
  if (end < 0) throw Error(where, "cannot read the file: it has no size (not a regular file)");
  const uint64_t file_size = uint64_t(end);
  in_->seekg(0);
  unsigned char prefix[8] = {};
  if (file_size < 8 || !in_->read(reinterpret_cast<char*>(prefix), 8))
    throw Error(where, "not a safetensors file: shorter than its 8-byte header length");
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = length << 8 | prefix[i];
  if (length > file_size - 8)
    throw Error(where, "truncated: header length " + std::to_string(length) + " exceeds the file (" +
                           std::to_string(file_size) + " bytes)");
  if (length > kMaxSafetensorsHeader)
    throw Error(where, "header length " + std::to_string(length) + " exceeds the format's limit of " +
                           std::to_string(kMaxSafetensorsHeader) + " bytes");
  // nlohmann's tree takes up to about 12 bytes per byte of text (a 16-byte value for a two-byte "0,")
  check_memory(13 * double(length), where, "reading its " + std::to_string(length) + "-byte header needs",
               "the text and its parsed JSON are held at once");
  std::string text(length, '\0');
  if (!in_->read(text.data(), std::streamsize(length))) throw Error(where, "truncated inside the header");
  data_start_ = 8 + length;
  data_size_ = file_size - data_start_;
  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    throw Error(where, "corrupt safetensors header: its JSON is malformed at byte " + std::to_string(e.byte) +
                           " of " + std::to_string(length));
  } catch (const json::exception&) {  // found by fuzzing: 1e3056 is out_of_range.406, not a parse_error
    throw Error(where, "corrupt safetensors header: its JSON holds a number too large to read");
  }
  if (!header.is_object()) throw Error(where, "corrupt safetensors header: not a JSON object");
  for (auto& [name, entry] : header.items()) {
    if (name != "__metadata__") {
      tensors_.push_back(parse_entry(name, entry, where, data_size_));
      continue;
    }
    if (!entry.is_object()) throw Error(where, "corrupt safetensors header: __metadata__ is not an object");
    for (auto& [k, v] : entry.items()) {
      if (!v.is_string())
        throw Error(where, "corrupt safetensors header: __metadata__ value '" + k + "' is not a string");
      metadata_[k] = v.get<std::string>();
    }
  }
  check_tiling(tensors_, where, data_size_);
}

std::string SafetensorsFile::metadata(const std::string& key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? std::string() : it->second;
}

const StoredTensor* SafetensorsFile::find(const std::string& name) const {
  for (const StoredTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

void SafetensorsFile::read(const std::string& name, const std::vector<int64_t>& dims, float* dst,
                           const std::string& need) const {
  const SourceLocation where{path_, 0, 0};
  const StoredTensor* t = find(name);
  if (!t) throw Error(where, "checkpoint has no tensor '" + name + "' " + need);
  if (t->dtype != "F32") throw Error(where, "tensor '" + name + "' is " + t->dtype + ", expected F32");
  if (t->shape != dims)
    throw Error(where,
                "tensor '" + name + "' is " + shape_text(t->shape) + ", the graph's is " + shape_text(dims));
  in_->clear();
  in_->seekg(std::streamoff(data_start_ + t->begin));
  if (!in_->read(reinterpret_cast<char*>(dst), std::streamsize(t->end - t->begin)))
    throw Error(where, "truncated while reading tensor '" + name + "'");
}

std::optional<std::string> SafetensorsFile::verify_checksum() const {
  const SourceLocation where{path_, 0, 0};
  const std::string recorded = metadata(kDataChecksumKey);
  if (recorded.empty())
    return std::string(
        "the file records no checksum of its data (it was not written by this version of "
        "hourglass), so damaged tensors cannot be detected");
  if (recorded.size() != 8 || recorded.find_first_not_of("0123456789abcdef") != std::string::npos)
    throw Error(where, std::string("metadata '") + kDataChecksumKey + "' is '" + recorded.substr(0, 40) +
                           "', not 8 lowercase hex digits");
  in_->clear();
  in_->seekg(std::streamoff(data_start_));
  std::vector<char> buffer(1 << 20);
  uint32_t crc = 0;
  for (uint64_t left = data_size_; left > 0;) {
    const size_t n = size_t(std::min<uint64_t>(left, buffer.size()));
    if (!in_->read(buffer.data(), std::streamsize(n))) throw Error(where, "truncated while reading the data");
    crc = safetensors_crc32(crc, buffer.data(), n);
    left -= n;
  }
  if (crc32_hex(crc) != recorded)
    throw Error(where, "the data section's CRC-32 is " + crc32_hex(crc) + ", but the metadata records " +
                           recorded + ": the tensors were changed or damaged after the file was written");
  return std::nullopt;
}

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, std::string>>& metadata,
                       const std::vector<TensorToWrite>& tensors) {
  uint32_t crc = 0;
  for (const TensorToWrite& t : tensors) crc = safetensors_crc32(crc, t.data, size_t(t.count) * 4);
  json header;
  json meta = json::object();
  for (const auto& [k, v] : metadata) meta[k] = v;
  meta[kDataChecksumKey] = crc32_hex(crc);
  header["__metadata__"] = meta;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + uint64_t(t.count) * 4}}};
    offset += uint64_t(t.count) * 4;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format allows trailing spaces; keeps tensors aligned
  write_file_atomically(path, [&](int fd) {
    unsigned char length[8];
    for (int i = 0; i < 8; ++i) length[i] = (uint64_t(text.size()) >> (8 * i)) & 0xff;
    write_all(fd, length, 8, path, "the checkpoint");
    write_all(fd, text.data(), text.size(), path, "the checkpoint");
    for (const TensorToWrite& t : tensors) write_all(fd, t.data, size_t(t.count) * 4, path, "the checkpoint");
  });
}

}  // namespace hg
