// The readers ask the memory budget before they allocate what a file's header or size decides: IDX samples
// (gzipped ones before anything is inflated), CSV text and values, decoded images, and for a memory-mapped
// .npy only what the mapping may keep resident. A refusal names the file and both sizes.
#include <png.h>
#include <unistd.h>

#include "data_fixture.h"
#include "max_memory_guard.h"

using namespace hg;
using namespace hg::test;

namespace {

std::string idx_bytes(const std::vector<uint32_t>& dims, size_t data_bytes) {
  std::string out{'\0', '\0', char(0x08), char(dims.size())};
  for (uint32_t dim : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out += char(dim >> shift & 0xff);
  return out + std::string(data_bytes, '\x07');
}

std::string npy_header(const std::string& shape) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  return std::string("\x93NUMPY\x01\x00", 8) + char(header.size() & 0xff) + char(header.size() >> 8) + header;
}

std::string write_png(const std::string& path, int width, int height) {
  std::vector<uint8_t> pixels(size_t(width * height), 100);
  png_image image;
  std::memset(&image, 0, sizeof image);
  image.version = PNG_IMAGE_VERSION;
  image.width = png_uint_32(width);
  image.height = png_uint_32(height);
  image.format = PNG_FORMAT_GRAY;
  REQUIRE(png_image_write_to_file(&image, path.c_str(), 0, pixels.data(), 0, nullptr) != 0);
  return path;
}

}  // namespace

TEST_CASE("memory: IDX samples are reserved before they are read, gzipped ones before they are inflated") {
  TempDir dir;
  const std::string images = write_file(dir.file("images"), idx_bytes({100, 10, 10}, 10000));
  const std::string labels = write_file(dir.file("labels"), idx_bytes({100}, 100));
  const std::string gz = write_gz(dir.file("sevens.gz"), idx_bytes({200, 100}, 20000));
  {
    MaxMemory budget("8K");
    CHECK(
        error_of([&] {
          read_idx(IdxOptions{images, ""});
        }) ==
        images +
            ": error: loading 100 samples of 10 x 10 bytes needs 9.8 KiB, more than the memory budget of 8.0 "
            "KiB (--max-memory 8K)");
    CHECK(error_of([&] {
            read_idx(IdxOptions{gz, ""});
          }) ==
          gz + ": error: loading 200 samples of 100 bytes needs 19.5 KiB, more than the memory budget of 8.0 "
               "KiB (--max-memory 8K)");
    // Skipped samples are read before the kept ones are copied out: the peak counts both.
    CHECK(error_of([&] {
            read_idx(IdxOptions{images, "", 1, 50, 50});
          }) ==
          images +
              ": error: loading 50 samples of 10 x 10 bytes after skipping 50 needs 14.6 KiB, more than the "
              "memory budget of 8.0 KiB (--max-memory 8K)");
    const Dataset half = read_idx(IdxOptions{images, labels, 1, 50});
    REQUIRE(half.memory);
    CHECK(half.memory->bytes() == 50 * 100 + 50 * 4);  // samples and int32 labels stay
    CHECK(memory_held() == 50 * 100 + 50 * 4);
    CHECK(error_of([&] {
            read_idx(IdxOptions{images, labels, 1, 50});
          })
              .find("more than the 2.9 KiB left of the memory budget of 8.0 KiB (--max-memory 8K) after the "
                    "5.1 KiB "
                    "already held") != std::string::npos);
  }
  CHECK(memory_held() == 0);  // given back with the data set
}

TEST_CASE("memory: a CSV table's text and values are reserved as it is read, plain or gzipped") {
  TempDir dir;
  std::string table = "a,b,label\n";
  for (int i = 0; i < 1000; ++i) table += std::to_string(i) + ".5,2,cat\n";
  const std::string plain = write_file(dir.file("t.csv"), table);
  const std::string gz = write_gz(dir.file("t.csv.gz"), table);
  MaxMemory budget("16K");
  const std::string text = memory_size_text(2.0 * double(table.size()));
  CHECK(error_of([&] { read_csv(csv_options(plain, "label")); }) ==
        plain + ": error: reading its text needs " + text +
            ", more than the memory budget of 16.0 KiB (--max-memory 16K); a table is held twice while it is "
            "parsed, as text and as lines");
  CHECK(error_of([&] {
          read_csv(csv_options(gz, "label"));
        }).find(gz + ": error: reading its decompressed text needs ") != std::string::npos);
  CsvOptions few = csv_options(plain, "label");
  few.limit = 10;
  {
    MaxMemory more("64K");
    const Dataset d = read_csv(few);
    CHECK(d.memory->bytes() == 10 * 2 * 4 + 10 * 4);
  }
  MaxMemory tight("30K");  // the text fits, the values beside it do not
  CHECK(error_of([&] { read_csv(csv_options(plain, "label")); })
            .find(": error: holding 1000 rows of 2 float32 values and their labels needs 11.7 KiB, more than "
                  "the " +
                  memory_size_text(30 * 1024 - 2.0 * double(table.size())) + " left") != std::string::npos);
}

TEST_CASE("memory: a mapped .npy counts only what the mapping keeps resident, not the file") {
  TempDir dir;
  const std::string small = write_file(dir.file("small.npy"), npy_header("(1000, 1000)"));
  REQUIRE(truncate(small.c_str(), off_t(std::filesystem::file_size(small) + 4000000)) == 0);
  {
    MaxMemory budget("2M");
    CHECK(error_of([&] { read_npy(npy_options(small)); }) ==
          small +
              ": error: its memory mapping's resident pages need 3.8 MiB, more than the memory budget of 2.0 "
              "MiB (--max-memory 2M); a mapping keeps at most 256.0 MiB of a file resident");
  }
  // 400 MB of float32 as a sparse file: a copy would need all of it, the mapping at most its budget.
  const std::string big = write_file(dir.file("big.npy"), npy_header("(131072, 800)"));
  REQUIRE(truncate(big.c_str(), off_t(std::filesystem::file_size(big) + 131072 * 800 * 4)) == 0);
  MaxMemory budget("300M");
  const Dataset d = read_npy(npy_options(big));
  CHECK(d.memory->bytes() == uint64_t(FileMapping::kResidentBudget));
}

TEST_CASE("memory: images are reserved before they are decoded and held") {
  TempDir dir;
  for (const char* name : {"a.png", "b.png", "c.png"}) write_png(dir.file(name), 8, 8);
  ImagesOptions o;
  o.folder = dir.path;
  o.height = o.width = 8;
  {
    MaxMemory budget("200");
    CHECK(error_of([&] { read_images(o); }) ==
          dir.path +
              ": error: holding 3 images of 1 x 8 x 8 bytes needs 204 bytes, more than the memory "
              "budget of 200 bytes (--max-memory 200)");
  }
  TempDir large;
  const std::string png = write_png(large.file("big.png"), 1000, 1000);
  o.folder = large.path;
  o.height = o.width = 1000;
  MaxMemory budget("1M");
  CHECK(
      error_of([&] {
        read_images(o);
      }).find(png + ": error: decoding its 1000 x 1000 pixels needs 8.6 MiB, more than the 47.4 KiB left") !=
      std::string::npos);
}
