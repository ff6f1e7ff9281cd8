// Reading one IDX file: header checks first, then the data in a few large reads. Plain files are checked
// against their size on disk before anything is allocated; gzipped ones against the most their compressed
// size can expand to, so the data is decompressed into a buffer of exactly the size the header states,
// which a lying header cannot make much larger than the file could really hold.
#include "data/idx_file.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "support/diagnostics.h"

namespace hg {

namespace {

constexpr uint8_t kUnsignedByte = 0x08;
constexpr int kMaxDims = 4;
constexpr uint64_t kMaxElements = uint64_t{1} << 31;  // keeps every index and size well inside int64
// Deflate expands at most 1032:1 (a 258-byte match per two bits and the block overhead), so a gzip file
// of N bytes decompresses to at most this many bytes per compressed byte.
constexpr uint64_t kMaxDeflateRatio = 1032;
constexpr const char* kIdxStart =
    "an IDX file starts with 0x00 0x00, the element type and the number of dimensions";

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string hex(uint8_t byte) {
  const char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[byte >> 4] + digits[byte & 15];
}

// The element types the IDX format defines, so an unsupported file says what it actually holds.
std::string type_name(uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "16-bit integer";
    case 0x0C:
      return "32-bit integer";
    case 0x0D:
      return "32-bit float";
    case 0x0E:
      return "64-bit float";
  }
  return "not an IDX type";
}

int64_t big_endian_u32(const uint8_t* bytes) {
  return int64_t{bytes[0]} << 24 | int64_t{bytes[1]} << 16 | int64_t{bytes[2]} << 8 | int64_t{bytes[3]};
}

}  // namespace

std::string IdxHeader::dims_str() const {
  std::string out;
  for (int64_t dim : dims) out += (out.empty() ? "" : " x ") + std::to_string(dim);
  return out;
}

IdxFile::IdxFile(std::string path) : path_(std::move(path)) {
  open();
  read_header();
  if (gz_)
    check_gz_ratio();
  else
    check_plain_size();
}

void IdxFile::fail(const std::string& message) const {
  throw Error(SourceLocation{path_}, message);
}

void IdxFile::open() {
  struct stat info {};
  if (::stat(path_.c_str(), &info) != 0) fail(std::string("cannot open: ") + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) fail("cannot open: it is a directory");
  file_bytes_ = info.st_size;
  if (!S_ISREG(info.st_mode)) fail("cannot open: not a regular file");  // a FIFO or device never ends
  file_.reset(std::fopen(path_.c_str(), "rb"));
  if (!file_) fail(std::string("cannot open: ") + std::strerror(errno));
  if (!ends_with(path_, ".gz")) return;
  uint8_t magic[4] = {};
  const size_t got = std::fread(magic, 1, sizeof magic, file_.get());
  if (got < 2) fail("named .gz but not gzip-compressed: it is only " + std::to_string(got) + " bytes long");
  if (magic[0] != 0x1f || magic[1] != 0x8b)
    fail("named .gz but not gzip-compressed: it starts with " + hex(magic[0]) + " " + hex(magic[1]) +
         (magic[0] == 0 && magic[1] == 0 ? " like a plain IDX file; rename it without .gz"
                                         : ", not gzip's 0x1f 0x8b"));
  std::rewind(file_.get());
  auto* z = new z_stream{};
  if (inflateInit2(z, 16 + MAX_WBITS) != Z_OK) {  // 16: the gzip wrapper, with its CRC-32 and length
    delete z;
    fail("cannot start decompressing: out of memory");
  }
  gz_.reset(z);
  gz_input_.resize(size_t{1} << 18);  // fewer, larger reads from disk
}

void IdxFile::read_header() {
  uint8_t magic[4];
  const size_t got = read_some(magic, sizeof magic);
  if (got < sizeof magic)
    fail("not an IDX file: it is only " + std::to_string(got) + " bytes long; " + kIdxStart);
  if (magic[0] != 0 || magic[1] != 0) {
    const bool gzip = magic[0] == 0x1f && magic[1] == 0x8b;
    fail("not an IDX file: it starts with " + hex(magic[0]) + " " + hex(magic[1]) + " " + hex(magic[2]) +
         " " + hex(magic[3]) + "; " + kIdxStart +
         (gzip ? " (this looks gzipped: name it with a .gz suffix)" : ""));
  }
  if (magic[2] != kUnsignedByte)
    fail("unsupported element type " + hex(magic[2]) + " (" + type_name(magic[2]) +
         "); only 0x08 (unsigned byte) is supported");
  const int ndims = magic[3];
  if (ndims == 0 || ndims > kMaxDims)
    fail("the header declares " + std::to_string(ndims) + " dimensions; an IDX file here has 1 to 4");
  uint8_t raw[4 * kMaxDims];
  const size_t dim_bytes = read_some(raw, 4 * ndims);
  header_.header_bytes = 4 + 4 * ndims;
  if (dim_bytes < size_t(4 * ndims))
    fail("truncated: the header declares " + std::to_string(ndims) + " dimensions (" +
         std::to_string(header_.header_bytes) + " bytes), but the file ends after " +
         std::to_string(4 + dim_bytes) + " bytes");
  for (int i = 0; i < ndims; ++i) header_.dims.push_back(big_endian_u32(raw + 4 * i));
  check_dims();
}

// Zero dims would make an empty dataset; a huge product would make us allocate or index past int32 kernels.
void IdxFile::check_dims() {
  uint64_t product = 1;
  for (size_t i = 0; i < header_.dims.size(); ++i) {
    const uint64_t dim = header_.dims[i];
    if (dim == 0)
      fail("dimension " + std::to_string(i + 1) + " of " + std::to_string(header_.dims.size()) + " is 0 (" +
           header_.dims_str() + "); every dimension must be at least 1");
    if (product > kMaxElements / dim)  // product * dim would pass the cap, tested without overflowing
      fail("dimensions " + header_.dims_str() + " are too large: more than " + std::to_string(kMaxElements) +
           " elements");
    product *= dim;
  }
  header_.data_bytes = int64_t(product);
}

void IdxFile::check_plain_size() const {
  const int64_t on_disk = file_bytes_ - header_.header_bytes;
  const std::string sizes = "header says " + std::to_string(header_.data_bytes) +
                            " bytes of data, file has " + std::to_string(on_disk);
  if (on_disk < header_.data_bytes) fail("truncated: " + sizes);
  if (on_disk > header_.data_bytes)
    fail("trailing garbage: " + sizes + " (" + std::to_string(on_disk - header_.data_bytes) +
         " extra bytes)");
}

// Before anything is decompressed: a 2 MB file cannot hold 2 GB of data unless it is all one byte value,
// but a header claiming more than deflate could ever expand to is certainly lying.
void IdxFile::check_gz_ratio() const {
  const uint64_t most = uint64_t(file_bytes_) * kMaxDeflateRatio;
  if (uint64_t(header_.data_bytes) > most)
    fail("the header says " + std::to_string(header_.data_bytes) + " bytes of data (" + header_.dims_str() +
         "), more than a .gz file of " + std::to_string(file_bytes_) + " bytes can expand to (" +
         std::to_string(most) + "): the header is corrupt or the file truncated");
}

std::vector<uint8_t> IdxFile::read_samples(int64_t count) {
  HG_ASSERT(count >= 0 && count <= header_.count(), "sample count outside the file");
  const int64_t bytes = count * header_.item_bytes();
  return gz_ ? read_gz(bytes, count == header_.count()) : read_plain(bytes);
}

std::vector<uint8_t> IdxFile::read_plain(int64_t bytes) {
  std::vector<uint8_t> data(bytes);  // the size on disk was checked already, so this is what the file holds
  if (read_some(data.data(), data.size()) < data.size())
    fail("truncated: the file shrank while being read (" + std::to_string(bytes) + " bytes expected)");
  return data;
}

std::vector<uint8_t> IdxFile::read_gz(int64_t bytes, bool whole_file) {
  std::vector<uint8_t> data(
      static_cast<size_t>(bytes));  // exactly: check_gz_ratio bounded it by the file's size
  const size_t got = read_some(data.data(), data.size());
  const std::string sizes =
      "header says " + std::to_string(header_.data_bytes) + " bytes of data, decompressed file has ";
  if (got < size_t(bytes)) fail("truncated: " + sizes + std::to_string(got));
  if (whole_file) {
    const int64_t extra = count_trailing_bytes();
    if (extra > 0)
      fail("trailing garbage: " + sizes + std::to_string(bytes + extra) + " (" + std::to_string(extra) +
           " extra bytes)");
  }
  return data;
}

// Reading on to the end also makes zlib verify the stream's checksum, so a corrupt tail is caught too.
int64_t IdxFile::count_trailing_bytes() {
  uint8_t buffer[1 << 16];
  int64_t extra = 0;
  while (size_t n = read_some(buffer, sizeof buffer)) extra += int64_t(n);
  return extra;
}

size_t IdxFile::read_some(uint8_t* dst, size_t bytes) {
  if (gz_) return inflate_some(dst, bytes);
  const size_t got = std::fread(dst, 1, bytes, file_.get());
  if (got < bytes && std::ferror(file_.get())) fail(std::string("read error: ") + std::strerror(errno));
  return got;
}

// Decompresses up to `bytes`; fewer only at the end of the file. Concatenated gzip members (`cat a.gz b.gz`)
// are one stream, as gzip itself reads them; anything else after a member is trailing garbage.
size_t IdxFile::inflate_some(uint8_t* dst, size_t bytes) {
  z_stream& z = *gz_;
  size_t got = 0;
  while (got < bytes) {
    if (z.avail_in == 0) {
      const size_t n = std::fread(gz_input_.data(), 1, gz_input_.size(), file_.get());
      if (n == 0) {
        if (std::ferror(file_.get())) fail(std::string("read error: ") + std::strerror(errno));
        if (!gz_member_ended_) fail("corrupt .gz file: unexpected end of file");
        break;
      }
      z.next_in = gz_input_.data();
      z.avail_in = unsigned(n);
    }
    if (gz_member_ended_) {
      const uint64_t at = uint64_t(std::ftell(file_.get())) - z.avail_in;
      if (z.next_in[0] != 0x1f || (z.avail_in > 1 && z.next_in[1] != 0x8b))
        fail("trailing garbage after the gzip stream, at byte " + std::to_string(at) + " of " +
             std::to_string(file_bytes_));
      inflateReset(&z);
      gz_member_ended_ = false;
    }
    z.next_out = dst + got;
    z.avail_out = unsigned(std::min<size_t>(bytes - got, size_t{1} << 30));
    const unsigned before = z.avail_out;
    const int code = inflate(&z, Z_NO_FLUSH);
    got += before - z.avail_out;
    if (code == Z_STREAM_END)
      gz_member_ended_ = true;
    else if (code == Z_BUF_ERROR && z.avail_in == 0)
      continue;  // needs more input
    else if (code != Z_OK)
      fail("corrupt .gz file: " + (z.msg ? std::string(z.msg) : "zlib error " + std::to_string(code)));
  }
  return got;
}

}  // namespace hg
