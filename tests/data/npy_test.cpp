// read_npy against arrays numpy itself wrote (every dtype, formats 1.0/2.0/3.0, both byte orders), and the
// exact messages for broken .npy files: the reader must name the file and never crash or over-allocate.
#include <unistd.h>

#include <algorithm>

#include "data_fixture.h"

using namespace hg;
using namespace hg::test;
using namespace std::string_literals;

namespace {

// The .npy bytes of a header dict and raw data, as format 1.0 lays them out (padded to 64 bytes).
std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const size_t preamble = major == 1 ? 10 : 12;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(major);
  out += '\0';
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

std::string floats(std::vector<float> v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

}  // namespace

TEST_CASE("npy: every dtype and format version numpy writes reads back as numpy's float32 of it") {
  require_numpy();
  TempDir dir;
  run_numpy(dir, R"(
from numpy.lib import format as F
rng = np.random.default_rng(7)
base = rng.uniform(-100, 100, size=(5, 3, 4))
for i, dt in enumerate(['u1', 'i1', 'u2', 'i2', 'u4', 'i4', 'i8', 'u8', 'f4', 'f8', '>f4', '>i2', '>f8']):
    a = base.astype(dt) if dt[0] != 'u' and dt[1] != 'u' else np.abs(base).astype(dt)
    version = [(1, 0), (2, 0), (3, 0)][i % 3]
    with open('a%d.npy' % i, 'wb') as f:
        F.write_array(f, np.ascontiguousarray(a), version=version)
    a.astype(np.float32).tofile('a%d.f32' % i)
np.save('labels.npy', np.array([3, 0, 2, 2, 1], dtype=np.int64))
)");
  for (int i = 0; i < 13; ++i) {
    CAPTURE(i);
    const Dataset d =
        read_npy(npy_options(dir.file("a" + std::to_string(i) + ".npy"), dir.file("labels.npy")));
    CHECK(d.count == 5);
    CHECK(d.item_dims == std::vector<int64_t>{3, 4});
    const std::string expected = read_file(dir.file("a" + std::to_string(i) + ".f32"));
    const std::vector<float> got = all_values(d);
    REQUIRE(got.size() * 4 == expected.size());
    CHECK(std::string(reinterpret_cast<const char*>(got.data()), expected.size()) == expected);
    CHECK(d.labels == std::vector<int32_t>{3, 0, 2, 2, 1});
    CHECK(d.num_classes == 4);
  }
}

TEST_CASE("npy: float32 is read from the mapping without a copy, with skip, limit and scale") {
  require_numpy();
  TempDir dir;
  run_numpy(dir, "np.save('x.npy', np.arange(24, dtype=np.float32).reshape(6, 4))\n");
  const Dataset d = read_npy(npy_options(dir.file("x.npy"), "", 0.5f, 2, 3));
  CHECK(d.pixels.empty());  // nothing owned: the samples are the mapped file
  CHECK(d.mapped != nullptr);
  CHECK(d.count == 2);
  CHECK(all_values(d) == std::vector<float>{6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5});
}

TEST_CASE("npy: a 1-D array is one feature per sample, and float labels of whole numbers are accepted") {
  TempDir dir;
  const std::string x =
      write_file(dir.file("x.npy"),
                 npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", floats({1, 2, 3})));
  const std::string y =
      write_file(dir.file("y.npy"),
                 npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1), }", floats({0, 2, 1})));
  const Dataset d = read_npy(npy_options(x, y));
  CHECK(d.item_dims == std::vector<int64_t>{1});
  CHECK(d.labels == std::vector<int32_t>{0, 2, 1});
}

TEST_CASE("npy errors: broken files name the file and the problem") {
  TempDir dir;
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  auto err = [&](const std::string& name, const std::string& bytes) {
    const std::string path = write_file(dir.file(name), bytes);
    return error_of([&] { read_npy(npy_options(path)); });
  };
  CHECK(err("empty.npy", "") ==
        dir.file("empty.npy") +
            ": error: truncated: 0 bytes, but a .npy file starts with a 10-byte preamble");
  CHECK(err("magic.npy", "PK\x03\x04 not numpy at all") ==
        dir.file("magic.npy") + ": error: not a .npy file (no \\x93NUMPY magic at the start)");
  CHECK(err("version.npy", "\x93NUMPY\x09\x00\x10\x00{}"s) ==
        dir.file("version.npy") + ": error: unsupported .npy format version 9.0 (1.0, 2.0 and 3.0 are read)");
  CHECK(err("header.npy", "\x93NUMPY\x01\x00\xff\x7f{'descr'"s) ==
        dir.file("header.npy") +
            ": error: truncated: the header claims 32767 bytes, but the file has 8 after the preamble");
  CHECK(err("huge_header.npy", std::string("\x93NUMPY\x02\x00\xff\xff\xff\x7f", 12) + "{}") ==
        dir.file("huge_header.npy") +
            ": error: the header claims 2147483647 bytes, more than any .npy header has");
  CHECK(err("data.npy", npy_bytes(good_dict, floats({1, 2, 3}))) ==
        dir.file("data.npy") +
            ": error: truncated: shape (2, 2) of float32 needs 16 data bytes, but the file has 12");
  CHECK(err("trailing.npy", npy_bytes(good_dict, floats({1, 2, 3, 4, 5}))) ==
        dir.file("trailing.npy") +
            ": error: 4 bytes follow the data of shape (2, 2); the file is not one array");
  CHECK(err("fortran.npy",
            npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", floats({1, 2, 3, 4}))) ==
        dir.file("fortran.npy") +
            ": error: the array is in Fortran order; save a C-order array (np.ascontiguousarray)");
  CHECK(err("object.npy", npy_bytes("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", "")) ==
        dir.file("object.npy") +
            ": error: dtype '|O' is not read; use uint8, int8/16/32/64, uint16/32/64, float32 or float64 "
            "(e.g. arr.astype(np.float32))");
  // a shape whose byte count overflows must not be multiplied out, let alone allocated
  CHECK(err("shape.npy",
            npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }",
                      "")) ==
        dir.file("shape.npy") + ": error: shape (1099511627776, 1099511627776) is impossibly large");
  CHECK(err("noshape.npy", npy_bytes("{'descr': '<f4', 'fortran_order': False}", ""))
            .rfind(dir.file("noshape.npy") + ": error: the header has no 'shape' (header: {'descr': '<f4', ",
                   0) == 0);
}

TEST_CASE("npy errors: labels that do not fit the samples") {
  TempDir dir;
  const std::string x = write_file(
      dir.file("x.npy"),
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", floats({1, 2, 3, 4})));
  auto labels = [&](const std::string& dict, const std::string& data) {
    const std::string y = write_file(dir.file("y.npy"), npy_bytes(dict, data));
    return error_of([&] { read_npy(npy_options(x, y)); });
  };
  CHECK(
      labels("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", floats({0, 1, 2})) ==
      dir.file("y.npy") +
          ": error: 3 labels, but the samples file has 2 samples; the two files must hold the same samples");
  CHECK(labels("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", floats({0, -1})) ==
        dir.file("y.npy") +
            ": error: label 1 (record 1) is -1.000000; labels are whole numbers in [0, 1048576)");
  CHECK(labels("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", floats({0.5f, 1})) ==
        dir.file("y.npy") +
            ": error: label 0 (record 0) is 0.500000; labels are whole numbers in [0, 1048576)");
  CHECK(labels("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", floats({0, 1})) ==
        dir.file("y.npy") + ": error: labels must be a 1-D array (or N x 1), but the shape is (1, 2)");
  CHECK(error_of([&] { read_npy(npy_options(dir.file("missing.npy"))); }) ==
        dir.file("missing.npy") + ": error: cannot open: No such file or directory");
}

namespace {

// The process's resident pages of mapped files, in bytes (/proc/self/status RssFile).
int64_t resident_file_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("RssFile:", 0) == 0) return std::stoll(line.substr(8)) * 1024;
  return -1;
}

}  // namespace

TEST_CASE("npy: an epoch over a file larger than the residency budget keeps at most the budget mapped") {
  TempDir dir;
  // 400 MB of float32 zeros, as a sparse file: no disk is written, but reading maps page-cache pages.
  const int64_t rows = 128 * 1024, width = 800;
  const std::string path = dir.file("big.npy");
  write_file(path, npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (" + std::to_string(rows) +
                                 ", " + std::to_string(width) + "), }",
                             ""));
  REQUIRE(truncate(path.c_str(), off_t(std::filesystem::file_size(path) + rows * width * 4)) == 0);
  const Dataset d = read_npy(npy_options(path));
  REQUIRE(d.count == rows);
  REQUIRE(d.mapping->size() > 3 * FileMapping::kResidentBudget / 2);
  const int64_t before = resident_file_bytes();
  REQUIRE(before >= 0);
  std::vector<float> sample(static_cast<size_t>(width));
  double sum = 0;
  int64_t peak = 0;
  for (int64_t i = 0; i < rows; ++i) {
    d.copy_image(i, sample.data());
    sum += sample[0];
    if (i % 4096 == 0) peak = std::max(peak, resident_file_bytes() - before);
  }
  CHECK(sum == 0);
  MESSAGE("peak mapped growth ", peak >> 20, " MB over a ", d.mapping->size() >> 20, " MB file");
  CHECK(peak <= FileMapping::kResidentBudget + (int64_t(16) << 20));
}
