// read_idx on small IDX files written byte by byte: good pairs, limits, gzip, and one test per kind of
// malformed file, each asserting the exact message a user would see.
#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "support/diagnostics.h"

using namespace hg;

namespace {

// A fresh folder per test, removed afterwards, so tests never see each other's files.
struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/hg_data_test_XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

// magic 0x00 0x00 <type> <ndims>, big-endian u32 dims, then the data bytes.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                      uint8_t type = 0x08) {
  std::string out{'\0', '\0', char(type), char(dims.size())};
  for (uint32_t dim : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += char(dim >> shift & 0xff);
  out.append(data.begin(), data.end());
  return out;
}

std::vector<uint8_t> iota_bytes(size_t n, uint8_t first = 0) {
  std::vector<uint8_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = uint8_t(first + i);
  return bytes;
}

std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string write_gz(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Sample i of `data` as the floats Dataset::copy_image hands out.
std::vector<float> image(const Dataset& data, int64_t i) {
  std::vector<float> floats(size_t(data.features()));
  data.copy_image(i, floats.data());
  return floats;
}

// Every sample's floats, one after another.
std::vector<float> all_images(const Dataset& data) {
  std::vector<float> floats;
  for (int64_t i = 0; i < data.count; ++i) {
    const std::vector<float> one = image(data, i);
    floats.insert(floats.end(), one.begin(), one.end());
  }
  return floats;
}

std::string error_of(const IdxOptions& options) {
  try {
    read_idx(options);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string error_of(const std::string& images_path) {
  return error_of(IdxOptions{images_path, ""});
}

// Three 2x2 images holding bytes 0..11 and labels {4, 0, 1}.
struct GoodPair {
  TempDir dir;
  std::string images = write_file(dir.file("images"), idx_bytes({3, 2, 2}, iota_bytes(12)));
  std::string labels = write_file(dir.file("labels"), idx_bytes({3}, {4, 0, 1}));
};

}  // namespace

TEST_CASE("an images/labels pair loads with scaled pixels, dims and labels") {
  GoodPair pair;
  const Dataset data = read_idx({pair.images, pair.labels, 0.5f});
  CHECK(data.count == 3);
  CHECK(data.item_dims == std::vector<int64_t>{2, 2});
  CHECK(data.features() == 4);
  CHECK(data.pixels == iota_bytes(12));
  CHECK(data.scale == 0.5f);
  CHECK(image(data, 2) == std::vector<float>{4.0f, 4.5f, 5.0f, 5.5f});  // bytes 8..11 * 0.5
  CHECK(data.labels == std::vector<int32_t>{4, 0, 1});
  CHECK(data.num_classes == 5);
  CHECK(data.images_path == pair.images);
}

TEST_CASE("without a labels file the dataset has no labels and no classes") {
  GoodPair pair;
  const Dataset data = read_idx({pair.images, ""});
  CHECK(data.count == 3);
  CHECK(image(data, 1)[0] == 4.0f);
  CHECK(data.labels.empty());
  CHECK(data.num_classes == 0);
}

TEST_CASE("limit reads only the first samples, and a limit past the end reads them all") {
  GoodPair pair;
  const Dataset two = read_idx({pair.images, pair.labels, 1.0f, 2});
  CHECK(two.count == 2);
  CHECK(all_images(two) == std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7});
  CHECK(two.pixels.size() == 8);
  CHECK(two.labels == std::vector<int32_t>{4, 0});
  CHECK(read_idx({pair.images, pair.labels, 1.0f, 99}).count == 3);
}

TEST_CASE("skip passes over the first samples and limit counts from there; skipping everything is an error") {
  GoodPair pair;
  const Dataset tail = read_idx({pair.images, pair.labels, 1.0f, 0, 1});
  CHECK(tail.count == 2);
  CHECK(all_images(tail) == std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11});
  CHECK(tail.labels == std::vector<int32_t>{0, 1});
  const Dataset middle = read_idx({pair.images, pair.labels, 1.0f, 1, 1});
  CHECK(all_images(middle) == std::vector<float>{4, 5, 6, 7});
  CHECK(middle.labels == std::vector<int32_t>{0});
  CHECK(error_of(IdxOptions{pair.images, pair.labels, 1.0f, 0, 3}) ==
        pair.images + ": error: cannot skip 3 samples: the file holds 3");
}

TEST_CASE("gzipped files load the same, with or without a limit") {
  TempDir dir;
  const std::string images = write_gz(dir.file("images.gz"), idx_bytes({3, 2, 2}, iota_bytes(12)));
  const std::string labels = write_gz(dir.file("labels.gz"), idx_bytes({3}, {4, 0, 1}));
  const Dataset data = read_idx({images, labels, 2.0f});
  CHECK(data.count == 3);
  CHECK(image(data, 2)[3] == 22.0f);
  CHECK(data.labels == std::vector<int32_t>{4, 0, 1});
  CHECK(all_images(read_idx({images, labels, 1.0f, 1})) == std::vector<float>{0, 1, 2, 3});
  CHECK(all_images(read_idx({images, labels, 1.0f, 1, 2})) == std::vector<float>{8, 9, 10, 11});
}

TEST_CASE("a dataset holds one byte per pixel and hands out byte * scale, for every byte value") {
  // Four 8x8 images holding every byte 0..255 once, in a scrambled order.
  std::vector<uint8_t> bytes(256);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 97 + 31);  // 97 is odd: a permutation
  TempDir dir;
  const std::string images = write_file(dir.file("images"), idx_bytes({4, 8, 8}, bytes));
  const float scale = 1.0f / 255;
  const Dataset data = read_idx({images, "", scale});
  static_assert(sizeof(data.pixels[0]) == 1, "one byte per pixel");
  CHECK(data.pixels.size() == size_t(data.count * data.features()));  // 256 bytes, not 1024
  CHECK(data.pixels == bytes);
  for (int64_t i = 0; i < data.count; ++i) {
    const std::vector<float> floats = image(data, i);
    REQUIRE(floats.size() == 64);
    for (size_t j = 0; j < 64; ++j) {
      const uint8_t byte = bytes[size_t(i) * 64 + j];
      CHECK(floats[j] == float(byte) * scale);  // bit for bit the value training always saw
      if (byte == 0) CHECK(floats[j] == 0.0f);
      if (byte == 255) CHECK(floats[j] == 1.0f);
    }
  }
}

TEST_CASE("skipping samples keeps only the bytes of the samples kept") {
  GoodPair pair;
  const Dataset tail = read_idx({pair.images, pair.labels, 0.25f, 0, 2});
  CHECK(tail.pixels == std::vector<uint8_t>{8, 9, 10, 11});
  CHECK(tail.pixels.capacity() == 4);  // the two skipped samples' bytes were given back
  CHECK(all_images(tail) == std::vector<float>{2.0f, 2.25f, 2.5f, 2.75f});
}

TEST_CASE("a missing file or a directory cannot be opened") {
  TempDir dir;
  CHECK(error_of(dir.file("nope")) == dir.file("nope") + ": error: cannot open: No such file or directory");
  CHECK(error_of(dir.file("nope.gz")) ==
        dir.file("nope.gz") + ": error: cannot open: No such file or directory");
  CHECK(error_of(dir.path) == dir.path + ": error: cannot open: it is a directory");
}

TEST_CASE("a file without the IDX magic is refused, saying what it starts with") {
  TempDir dir;
  const std::string text = write_file(dir.file("a.csv"), "1,2,3\n");
  CHECK(error_of(text) ==
        text +
            ": error: not an IDX file: it starts with 0x31 0x2c 0x32 0x2c; an IDX file starts "
            "with 0x00 0x00, the element type and the number of dimensions");
  const std::string short_file = write_file(dir.file("short"), std::string(2, '\0'));
  CHECK(error_of(short_file) ==
        short_file +
            ": error: not an IDX file: it is only 2 bytes long; an IDX file starts with "
            "0x00 0x00, the element type and the number of dimensions");
  const std::string gzipped = write_gz(dir.file("images"), idx_bytes({1, 1}, {0}));
  CHECK(error_of(gzipped) == gzipped +
                                 ": error: not an IDX file: it starts with 0x1f 0x8b 0x08 0x00; an IDX file "
                                 "starts with 0x00 0x00, the element type and the number of dimensions (this "
                                 "looks gzipped: name it with a .gz suffix)");
}

TEST_CASE("element types other than unsigned byte are refused by name") {
  TempDir dir;
  const std::string floats = write_file(dir.file("f"), idx_bytes({1, 1}, {0, 0, 0, 0}, 0x0D));
  CHECK(error_of(floats) ==
        floats +
            ": error: unsupported element type 0x0d (32-bit float); only 0x08 (unsigned byte) is supported");
  const std::string odd = write_file(dir.file("odd"), idx_bytes({1, 1}, {0}, 0x42));
  CHECK(
      error_of(odd) ==
      odd +
          ": error: unsupported element type 0x42 (not an IDX type); only 0x08 (unsigned byte) is supported");
}

TEST_CASE("impossible dimensions are refused before any data is read") {
  TempDir dir;
  const std::string none = write_file(dir.file("none"), idx_bytes({}, {}));
  CHECK(error_of(none) == none + ": error: the header declares 0 dimensions; an IDX file here has 1 to 4");
  const std::string five = write_file(dir.file("five"), idx_bytes({1, 1, 1, 1, 1}, {0}));
  CHECK(error_of(five) == five + ": error: the header declares 5 dimensions; an IDX file here has 1 to 4");
  const std::string zero = write_file(dir.file("zero"), idx_bytes({10, 0, 28}, {}));
  CHECK(error_of(zero) ==
        zero + ": error: dimension 2 of 3 is 0 (10 x 0 x 28); every dimension must be at least 1");
  const std::string cut_header = write_file(dir.file("cut"), idx_bytes({10, 28, 28}, {}).substr(0, 10));
  CHECK(error_of(cut_header) ==
        cut_header +
            ": error: truncated: the header declares 3 dimensions (16 bytes), but the file ends after "
            "10 bytes");
}

TEST_CASE("dimensions whose product overflows or passes 2^31 elements are refused without allocating") {
  TempDir dir;
  const uint32_t max = 0xffffffffu;
  const std::string overflow = write_file(dir.file("overflow"), idx_bytes({max, max, max, max}, {}));
  CHECK(error_of(overflow) ==
        overflow +
            ": error: dimensions 4294967295 x 4294967295 x 4294967295 x 4294967295 are too "
            "large: more than 2147483648 elements");
  const std::string big = write_gz(dir.file("big.gz"), idx_bytes({32769, 256, 256}, {}));
  CHECK(error_of(big) ==
        big + ": error: dimensions 32769 x 256 x 256 are too large: more than 2147483648 elements");
}

TEST_CASE("data shorter or longer than the header says is refused, even with a limit") {
  TempDir dir;
  const std::string truncated = write_file(dir.file("truncated"), idx_bytes({3, 2, 2}, iota_bytes(10)));
  const std::string expected = truncated + ": error: truncated: header says 12 bytes of data, file has 10";
  CHECK(error_of(truncated) == expected);
  CHECK(error_of(IdxOptions{truncated, "", 1.0f, 1}) == expected);
  const std::string trailing = write_file(dir.file("trailing"), idx_bytes({3, 2, 2}, iota_bytes(15)));
  CHECK(error_of(trailing) ==
        trailing + ": error: trailing garbage: header says 12 bytes of data, file has 15 (3 extra bytes)");
}

TEST_CASE("gzipped data shorter or longer than the header says is refused") {
  TempDir dir;
  const std::string truncated = write_gz(dir.file("truncated.gz"), idx_bytes({3, 2, 2}, iota_bytes(10)));
  CHECK(error_of(truncated) ==
        truncated + ": error: truncated: header says 12 bytes of data, decompressed file has 10");
  const std::string trailing = write_gz(dir.file("trailing.gz"), idx_bytes({3, 2, 2}, iota_bytes(15)));
  CHECK(error_of(trailing) ==
        trailing +
            ": error: trailing garbage: header says 12 bytes of data, decompressed file has "
            "15 (3 extra bytes)");
  // A header claiming 2^31 bytes over 12 real ones: refused from the file's size, before any allocation.
  const std::string liar = write_gz(dir.file("liar.gz"), idx_bytes({32768, 256, 256}, iota_bytes(12)));
  const std::string size = std::to_string(std::filesystem::file_size(liar));
  CHECK(error_of(liar) == liar +
                              ": error: the header says 2147483648 bytes of data (32768 x 256 x 256), more "
                              "than a .gz file of " +
                              size + " bytes can expand to (" + std::to_string(std::stoull(size) * 1032) +
                              "): the header is corrupt or the file truncated");
  // Within what deflate can reach, but still more than the stream holds: found while decompressing.
  const std::string short_liar =
      write_gz(dir.file("short_liar.gz"), idx_bytes({100, 10, 10}, iota_bytes(12)));
  CHECK(error_of(short_liar) ==
        short_liar + ": error: truncated: header says 10000 bytes of data, decompressed file has 12");
}

TEST_CASE("garbage after the gzip stream is refused, and a second gzip member is read on as gzip does") {
  TempDir dir;
  const std::string idx = idx_bytes({3, 2, 2}, iota_bytes(12));
  const std::string member = read_file(write_gz(dir.file("whole.gz"), idx));
  const std::string garbage = write_file(dir.file("garbage.gz"), member + "junk after the stream");
  CHECK(error_of(garbage) == garbage + ": error: trailing garbage after the gzip stream, at byte " +
                                 std::to_string(member.size()) + " of " + std::to_string(member.size() + 21));
  const std::string zeros =
      write_file(dir.file("zeros.gz"), member + std::string(512, '\0'));  // tar-style padding
  CHECK(error_of(zeros) == zeros + ": error: trailing garbage after the gzip stream, at byte " +
                               std::to_string(member.size()) + " of " + std::to_string(member.size() + 512));
  // `cat a.gz b.gz`: one file in two members, split inside the data.
  const std::string first = read_file(write_gz(dir.file("first.gz"), idx.substr(0, 15)));
  const std::string second = read_file(write_gz(dir.file("second.gz"), idx.substr(15)));
  const std::string joined = write_file(dir.file("joined.gz"), first + second);
  const Dataset data = read_idx(IdxOptions{joined, ""});
  CHECK(data.count == 3);
  CHECK(image(data, 2) == std::vector<float>{8, 9, 10, 11});
}

TEST_CASE("a plain file named .gz is refused instead of being read as if compressed") {
  TempDir dir;
  const std::string plain = write_file(dir.file("images.gz"), idx_bytes({3, 2, 2}, iota_bytes(12)));
  CHECK(error_of(plain) == plain +
                               ": error: named .gz but not gzip-compressed: it starts with 0x00 0x00 like a "
                               "plain IDX file; rename it without .gz");
  const std::string text = write_file(dir.file("notes.gz"), "hello");
  CHECK(error_of(text) ==
        text + ": error: named .gz but not gzip-compressed: it starts with 0x68 0x65, not gzip's 0x1f 0x8b");
  const std::string empty = write_file(dir.file("empty.gz"), "");
  CHECK(error_of(empty) == empty + ": error: named .gz but not gzip-compressed: it is only 0 bytes long");
}

TEST_CASE("a FIFO or device is refused before it is read") {
  TempDir dir;
  REQUIRE(::mkfifo(dir.file("pipe").c_str(), 0600) == 0);  // nobody writes: reading would block forever
  CHECK(error_of(dir.file("pipe")) == dir.file("pipe") + ": error: cannot open: not a regular file");
  CHECK(error_of("/dev/zero") == "/dev/zero: error: cannot open: not a regular file");
}

TEST_CASE("a corrupt gzip stream is reported as such") {
  TempDir dir;
  const std::string good = read_file(write_gz(dir.file("good.gz"), idx_bytes({64, 4, 4}, iota_bytes(1024))));
  const std::string cut = write_file(dir.file("cut.gz"), good.substr(0, good.size() / 2));
  CHECK(error_of(cut) == cut + ": error: corrupt .gz file: unexpected end of file");
  std::string bad_crc = good;
  bad_crc[bad_crc.size() - 8] ^= 0x5a;  // the CRC-32 in the gzip trailer
  const std::string crc = write_file(dir.file("crc.gz"), bad_crc);
  CHECK(error_of(crc) == crc + ": error: corrupt .gz file: incorrect data check");
}

TEST_CASE("a labels file must be one-dimensional and an images file at least two") {
  GoodPair pair;
  const std::string labels2d = write_file(pair.dir.file("labels2d"), idx_bytes({3, 2}, iota_bytes(6)));
  CHECK(error_of({pair.images, labels2d}) ==
        labels2d + ": error: a labels file has 1 dimension (the count), but the header has 2 (3 x 2)");
  CHECK(error_of(pair.labels) ==
        pair.labels +
            ": error: an images file needs at least 2 dimensions (the count, then the "
            "dims of one item), but the header has 1 (3)");
}

TEST_CASE("image and label counts must agree, and the message names both files") {
  GoodPair pair;
  const std::string four = write_file(pair.dir.file("four"), idx_bytes({4}, {0, 1, 2, 3}));
  const std::string expected = pair.images + ": error: 3 images, but labels file '" + four +
                               "' has 4 labels; the two files must hold the same samples";
  CHECK(error_of({pair.images, four}) == expected);
  CHECK(error_of({pair.images, four, 1.0f, 1}) == expected);
}
