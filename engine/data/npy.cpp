// read_npy: numpy .npy files, memory-mapped. The header is checked completely (magic, version, a dict
// with descr/fortran_order/shape, sizes that fit the file) before anything is mapped, so a truncated or
// hostile file is an error naming it, never a crash or an allocation sized by the file.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <optional>

#include "data/dataset.h"
#include "support/diagnostics.h"

namespace hg {

namespace {

constexpr int64_t kMaxHeader = 1 << 20;  // numpy writes a few hundred bytes; anything near this is broken
constexpr int32_t kMaxLabel = 1 << 20;

[[noreturn]] void fail(const std::string& path, const std::string& message) {
  throw Error({path, 0, 0}, message);
}

struct Mapping {
  const uint8_t* bytes = nullptr;
  int64_t size = 0;
  std::shared_ptr<const FileMapping> owner;
};

Mapping map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open: " + std::string(std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(path, "not a regular file");
  }
  Mapping m;
  m.size = int64_t(st.st_size);
  if (m.size < 10) {
    ::close(fd);
    fail(path,
         "truncated: " + std::to_string(m.size) + " bytes, but a .npy file starts with a 10-byte preamble");
  }
  void* p = ::mmap(nullptr, size_t(m.size), PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);  // the mapping stays valid without the descriptor
  if (p == MAP_FAILED) fail(path, "cannot map: " + std::string(std::strerror(errno)));
  m.bytes = static_cast<const uint8_t*>(p);
  m.owner = std::make_shared<const FileMapping>(m.bytes, m.size);
  return m;
}

struct NpyHeader {
  DType dtype = DType::U8;
  bool swap = false;
  std::vector<int64_t> shape;
  int64_t data_offset = 0;
  int64_t data_bytes = 0;
};

// The value text of 'key' in numpy's header dict, e.g. "'<f4'" or "(100, 28, 28)".
std::string dict_value(const std::string& path, const std::string& dict, const std::string& key) {
  size_t at = dict.find("'" + key + "'");
  if (at == std::string::npos) at = dict.find("\"" + key + "\"");
  if (at == std::string::npos) fail(path, "the header has no '" + key + "' (header: " + dict + ")");
  at = dict.find(':', at);
  if (at == std::string::npos) fail(path, "the header's '" + key + "' has no value (header: " + dict + ")");
  ++at;
  while (at < dict.size() && dict[at] == ' ') ++at;
  size_t end = at;
  if (end < dict.size() && dict[end] == '(') {
    end = dict.find(')', end);
    if (end == std::string::npos) fail(path, "the header's shape has no ')' (header: " + dict + ")");
    return dict.substr(at, end + 1 - at);
  }
  while (end < dict.size() && dict[end] != ',' && dict[end] != '}') ++end;
  std::string value = dict.substr(at, end - at);
  while (!value.empty() && value.back() == ' ') value.pop_back();
  return value;
}

NpyHeader parse_header(const std::string& path, const Mapping& m) {
  static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (std::memcmp(m.bytes, magic, 6) != 0) fail(path, "not a .npy file (no \\x93NUMPY magic at the start)");
  const int major = m.bytes[6];
  if (major < 1 || major > 3)
    fail(path, "unsupported .npy format version " + std::to_string(major) + "." + std::to_string(m.bytes[7]) +
                   " (1.0, 2.0 and 3.0 are read)");
  int64_t header_len = 0, preamble = major == 1 ? 10 : 12;
  if (m.size < preamble) fail(path, "truncated inside the preamble");
  if (major == 1)
    header_len = int64_t(m.bytes[8]) | int64_t(m.bytes[9]) << 8;
  else
    header_len = int64_t(m.bytes[8]) | int64_t(m.bytes[9]) << 8 | int64_t(m.bytes[10]) << 16 |
                 int64_t(m.bytes[11]) << 24;
  if (header_len > kMaxHeader)
    fail(path, "the header claims " + std::to_string(header_len) + " bytes, more than any .npy header has");
  if (preamble + header_len > m.size)
    fail(path, "truncated: the header claims " + std::to_string(header_len) + " bytes, but the file has " +
                   std::to_string(m.size - preamble) + " after the preamble");
  const std::string dict(reinterpret_cast<const char*>(m.bytes + preamble), size_t(header_len));
  NpyHeader h;
  h.data_offset = preamble + header_len;
  std::string descr = dict_value(path, dict, "descr");
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"'))
    fail(path, "descr " + descr + " is not a simple dtype (structured arrays are not read)");
  descr = descr.substr(1, descr.size() - 2);
  static const struct {
    const char* code;
    DType type;
  } codes[] = {{"u1", DType::U8},  {"i1", DType::I8},  {"b1", DType::U8},  {"u2", DType::U16},
               {"i2", DType::I16}, {"u4", DType::U32}, {"i4", DType::I32}, {"u8", DType::U64},
               {"i8", DType::I64}, {"f4", DType::F32}, {"f8", DType::F64}};
  bool known = false;
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '='))
    for (const auto& c : codes)
      if (descr.compare(1, 2, c.code) == 0) {
        h.dtype = c.type;
        h.swap = descr[0] == '>' && dtype_bytes(c.type) > 1;
        known = true;
      }
  if (!known)
    fail(path, "dtype '" + descr +
                   "' is not read; use uint8, int8/16/32/64, uint16/32/64, float32 or float64 (e.g. "
                   "arr.astype(np.float32))");
  if (dict_value(path, dict, "fortran_order") != "False")
    fail(path, "the array is in Fortran order; save a C-order array (np.ascontiguousarray)");
  const std::string shape = dict_value(path, dict, "shape");
  if (shape.size() < 2 || shape.front() != '(') fail(path, "shape " + shape + " is not a tuple");
  int64_t elements = 1;
  const char* p = shape.c_str() + 1;
  for (;;) {
    while (*p == ' ' || *p == ',') ++p;
    if (*p == ')') break;
    char* end = nullptr;
    errno = 0;
    const long long d = std::strtoll(p, &end, 10);
    if (end == p || errno != 0 || d < 0 || d > (1ll << 40))
      fail(path, "shape " + shape + " has a dimension that is not a size");
    h.shape.push_back(d);
    if (__builtin_mul_overflow(elements, int64_t(d), &elements) || elements > (1ll << 50))
      fail(path, "shape " + shape + " is impossibly large");
    if (h.shape.size() > 32) fail(path, "shape " + shape + " has more than 32 dimensions");
    p = end;
    if (*p != ',' && *p != ')' && *p != ' ') fail(path, "shape " + shape + " is malformed");
  }
  if (h.shape.empty()) fail(path, "the array is a scalar (shape ()); it needs a first axis of samples");
  h.data_bytes = elements * dtype_bytes(h.dtype);
  if (h.data_offset + h.data_bytes > m.size)
    fail(path, "truncated: shape " + shape + " of " + dtype_name(h.dtype) + " needs " +
                   std::to_string(h.data_bytes) + " data bytes, but the file has " +
                   std::to_string(m.size - h.data_offset));
  if (h.data_offset + h.data_bytes < m.size)
    fail(path, std::to_string(m.size - h.data_offset - h.data_bytes) + " bytes follow the data of shape " +
                   shape + "; the file is not one array");
  return h;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

std::vector<int32_t> read_labels(const std::string& path, int64_t count) {
  const Mapping m = map_file(path);
  const NpyHeader h = parse_header(path, m);
  if (!(h.shape.size() == 1 || (h.shape.size() == 2 && h.shape[1] == 1)))
    fail(path, "labels must be a 1-D array (or N x 1), but the shape is " + shape_text(h.shape));
  if (h.shape[0] != count)
    fail(path, std::to_string(h.shape[0]) + " labels, but the samples file has " + std::to_string(count) +
                   " samples; the two files must hold the same samples");
  Dataset view;  // reuses the element conversion, one value per row
  view.count = count;
  view.item_dims = {1};
  view.mapped = m.bytes + h.data_offset;
  view.dtype = h.dtype;
  view.swap_bytes = h.swap;
  std::vector<int32_t> labels(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    float value = 0;
    view.copy_untransformed(i, &value);
    // float32 holds every whole number below 2^24 exactly, so this check is exact for the allowed range
    if (!(value >= 0 && value < float(kMaxLabel)) || value != std::floor(value))
      fail(path, "label " + std::to_string(i) + " (record " + std::to_string(i) + ") is " +
                     std::to_string(value) + "; labels are whole numbers in [0, " +
                     std::to_string(kMaxLabel) + ")");
    labels[size_t(i)] = int32_t(value);
  }
  return labels;
}

}  // namespace

Dataset read_npy(const NpyOptions& options) {
  const Mapping m = map_file(options.path);
  const NpyHeader h = parse_header(options.path, m);
  const int64_t in_file = h.shape[0];
  // The samples are not copied: only the mapping's resident pages count, which FileMapping keeps within
  // its budget however large the file. The labels are read into memory.
  const bool labelled = !options.labels_path.empty();
  auto memory = std::make_shared<MemoryCharge>(reserve_memory(
      double(std::min(m.size, FileMapping::kResidentBudget)) + (labelled ? double(in_file) * 8 : 0),
      SourceLocation{options.path},
      std::string("its memory mapping's resident pages") + (labelled ? " and its labels" : "") + " need",
      "a mapping keeps at most " + memory_size_text(double(FileMapping::kResidentBudget)) +
          " of a file resident"));
  std::vector<int32_t> labels;
  if (labelled) labels = read_labels(options.labels_path, in_file);
  if (options.skip < 0 || (options.skip >= in_file && in_file > 0) || (in_file == 0 && options.skip > 0))
    fail(options.path, "cannot skip " + std::to_string(options.skip) + " samples: the file holds " +
                           std::to_string(in_file));
  if (in_file == 0) fail(options.path, "the array has no samples (shape " + shape_text(h.shape) + ")");
  Dataset d;
  d.images_path = options.path;
  d.labels_path = options.labels_path;
  const int64_t available = in_file - options.skip;
  d.count = options.limit > 0 ? std::min(options.limit, available) : available;
  d.item_dims.assign(h.shape.begin() + 1, h.shape.end());
  if (d.item_dims.empty()) d.item_dims = {1};  // a 1-D array: one value per sample
  d.dtype = h.dtype;
  d.swap_bytes = h.swap;
  d.scale = options.scale;
  d.mapping = m.owner;
  d.mapped = m.bytes + h.data_offset + options.skip * d.features() * dtype_bytes(h.dtype);
  if (!labels.empty()) {
    d.labels.assign(labels.begin() + options.skip, labels.begin() + options.skip + d.count);
    d.num_classes = 1 + *std::max_element(d.labels.begin(), d.labels.end());
  }
  memory->shrink_to(uint64_t(std::min(m.size, FileMapping::kResidentBudget)) +
                    uint64_t(d.labels.size() * sizeof(int32_t)));
  d.memory = std::move(memory);
  return d;
}

}  // namespace hg
