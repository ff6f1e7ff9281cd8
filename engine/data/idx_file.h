// One IDX file (plain or gzipped), private to the data layer. Opening it reads and checks the header, so
// a caller can compare the headers of an images/labels pair before loading any data (and before
// decompressing it); every problem is an hg::Error located at the file's path.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <zlib.h>

namespace hg {

struct IdxHeader {
  std::vector<int64_t> dims;  // dims[0] is the sample count
  int64_t header_bytes = 0;   // magic plus dims
  int64_t data_bytes = 0;     // product of dims (one byte per element)
  int64_t count() const { return dims[0]; }
  int64_t item_bytes() const { return data_bytes / dims[0]; }
  std::string dims_str() const;  // "60000 x 28 x 28"
};

class IdxFile {
 public:
  explicit IdxFile(std::string path);  // opens the file and reads its header

  const std::string& path() const { return path_; }
  const IdxHeader& header() const { return header_; }

  // The bytes of the first `count` samples. Reading all of them also checks that nothing follows the data.
  std::vector<uint8_t> read_samples(int64_t count);

  [[noreturn]] void fail(const std::string& message) const;

 private:
  void open();
  void read_header();
  void check_dims();
  void check_plain_size() const;
  size_t read_some(uint8_t* dst, size_t bytes);  // fewer bytes only at the end of the data
  size_t inflate_some(uint8_t* dst, size_t bytes);
  void check_gz_ratio() const;
  std::vector<uint8_t> read_plain(int64_t bytes);
  std::vector<uint8_t> read_gz(int64_t bytes, bool whole_file);
  int64_t count_trailing_bytes();

  std::string path_;
  std::unique_ptr<FILE, int (*)(FILE*)> file_{nullptr, &std::fclose};
  // A .gz file is inflated here rather than through gzread, which silently skips garbage after the gzip
  // stream and reads a plain file named .gz as if it were compressed. gz_ is set once inflateInit2 ran.
  std::unique_ptr<z_stream, void (*)(z_stream*)> gz_{nullptr, [](z_stream* z) {
                                                       inflateEnd(z);
                                                       delete z;
                                                     }};
  std::vector<uint8_t> gz_input_;
  bool gz_member_ended_ = false;  // a gzip member ended; more input must be another member
  int64_t file_bytes_ = 0;        // size on disk; the data size only for plain files
  IdxHeader header_;
};

}  // namespace hg
