// Dataset's derived sizes and its element-to-float conversion, shared by every file format: IDX bytes,
// numpy arrays of any supported dtype (memory-mapped), CSV tables stored as float32.
#include "data/dataset.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>

#include <cstring>

namespace hg {

int dtype_bytes(DType t) {
  switch (t) {
    case DType::U8:
    case DType::I8:
      return 1;
    case DType::U16:
    case DType::I16:
      return 2;
    case DType::U32:
    case DType::I32:
    case DType::F32:
      return 4;
    case DType::U64:
    case DType::I64:
    case DType::F64:
      return 8;
  }
  return 1;
}

const char* dtype_name(DType t) {
  static const char* const names[] = {"uint8", "int8",   "uint16", "int16",   "uint32",
                                      "int32", "uint64", "int64",  "float32", "float64"};
  return names[int(t)];
}

int64_t Dataset::features() const {
  int64_t product = 1;
  for (int64_t dim : item_dims) product *= dim;
  return product;
}

namespace {

template <typename T>
T load(const uint8_t* p, bool swap) {
  uint8_t bytes[sizeof(T)];
  std::memcpy(bytes, p, sizeof(T));
  if (swap)
    for (size_t k = 0; k < sizeof(T) / 2; ++k) std::swap(bytes[k], bytes[sizeof(T) - 1 - k]);
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

// One loop per element type, so the common cases (bytes, little-endian float32) compile to tight loops.
template <typename T>
void convert(const uint8_t* src, int64_t n, float factor, bool swap, float* dst) {
  if (!swap) {
    for (int64_t j = 0; j < n; ++j) {
      T value;
      std::memcpy(&value, src + j * int64_t(sizeof(T)), sizeof(T));
      dst[j] = float(value) * factor;
    }
    return;
  }
  for (int64_t j = 0; j < n; ++j) dst[j] = float(load<T>(src + j * int64_t(sizeof(T)), true)) * factor;
}

}  // namespace

FileMapping::~FileMapping() {
  ::munmap(const_cast<uint8_t*>(bytes_), size_t(size_));
}

// The process's resident pages that belong to files (statm's third field: file-backed and shared memory),
// in bytes; -1 when /proc cannot tell. Read with plain system calls: no allocation on the sampling path.
static int64_t resident_file_bytes() {
  const int fd = ::open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char text[128];
  const ssize_t n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  long long size = 0, resident = 0, shared = 0;
  if (std::sscanf(text, "%lld %lld %lld", &size, &resident, &shared) != 3) return -1;
  return int64_t(shared) * ::sysconf(_SC_PAGESIZE);
}

// What a read maps is the kernel's choice (fault-around and large page-cache folios map tens of KB around
// a 3 KB sample), so the budget is checked against the pages actually resident, every kCheckEvery bytes.
void FileMapping::note_read(int64_t bytes) const {
  constexpr int64_t kCheckEvery = int64_t(4) << 20;
  if (size_ <= kResidentBudget) return;
  if (read_since_check_.fetch_add(bytes, std::memory_order_relaxed) + bytes < kCheckEvery) return;
  read_since_check_.store(0, std::memory_order_relaxed);
  if (resident_file_bytes() > kResidentBudget)
    ::madvise(const_cast<uint8_t*>(bytes_), size_t(size_),
              MADV_DONTNEED);  // advice: a failure changes nothing
}

void Dataset::copy_untransformed(int64_t i, float* dst) const {
  const int64_t n = features();
  if (mapping) mapping->note_read(n * dtype_bytes(dtype));
  const uint8_t* base = mapped ? mapped : pixels.data();
  const uint8_t* src = base + row(i) * n * dtype_bytes(dtype);
  const float factor = scale;  // a local, so the compiler need not reload it after every store to dst
  switch (dtype) {
    case DType::U8:
      for (int64_t j = 0; j < n; ++j) dst[j] = float(src[j]) * factor;
      break;
    case DType::I8:
      convert<int8_t>(src, n, factor, false, dst);
      break;
    case DType::U16:
      convert<uint16_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::I16:
      convert<int16_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::U32:
      convert<uint32_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::I32:
      convert<int32_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::U64:
      convert<uint64_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::I64:
      convert<int64_t>(src, n, factor, swap_bytes, dst);
      break;
    case DType::F32:
      convert<float>(src, n, factor, swap_bytes, dst);
      break;
    case DType::F64:
      convert<double>(src, n, factor, swap_bytes, dst);
      break;
  }
}

void Dataset::copy_image(int64_t i, float* dst) const {
  copy_untransformed(i, dst);
  if (offset.empty()) return;
  const int64_t n = features();
  for (int64_t j = 0; j < n; ++j) dst[j] = (dst[j] - offset[size_t(j)]) * multiplier[size_t(j)];
}

}  // namespace hg
