// One IDX file (plain or gzipped), private to the data layer. Opening it reads and checks the header, so
// a caller can compare the headers of an images/labels pair before loading any data; every problem is an
// hg::Error located at the file's path.
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
  void check_gz_error() const;
  std::vector<uint8_t> read_plain(int64_t bytes);
  std::vector<uint8_t> read_gz(int64_t bytes, bool whole_file);
  int64_t count_trailing_bytes();

  std::string path_;
  // Exactly one of these is open; unique_ptr closes it even when the constructor throws.
  std::unique_ptr<FILE, int (*)(FILE*)> file_{nullptr, &std::fclose};
  std::unique_ptr<gzFile_s, int (*)(gzFile)> gz_{nullptr, &gzclose};
  int64_t file_bytes_ = 0;  // size on disk; the data size only for plain files
  IdxHeader header_;
};

}  // namespace hg
