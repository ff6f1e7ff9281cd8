// Helpers shared by the numpy, CSV and selection tests: temporary folders, files, error text, and a numpy
// run through Debian's /usr/bin/python3. A test that needs numpy where it is missing exits with 77, which
// CTest reports as skipped (tests/CMakeLists.txt sets SKIP_RETURN_CODE), never as passed.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "support/diagnostics.h"

namespace hg::test {

struct TempDir {
  std::string path;
  TempDir() {
    char pattern[] = "/tmp/hg_data_test_XXXXXX";
    path = mkdtemp(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return path + "/" + name; }
};

inline std::string write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

inline std::string write_gz(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  REQUIRE(gz != nullptr);
  REQUIRE(gzwrite(gz, bytes.data(), unsigned(bytes.size())) == int(bytes.size()));
  REQUIRE(gzclose(gz) == Z_OK);
  return path;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

template <typename F>
std::string error_of(F&& read) {
  try {
    read();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::vector<float> all_values(const Dataset& data) {
  std::vector<float> out(size_t(data.count * data.features()));
  for (int64_t i = 0; i < data.count; ++i) data.copy_image(i, out.data() + i * data.features());
  return out;
}

// Options with the rest at their defaults (brace-initializing a prefix of the fields draws -Wextra warnings).
inline CsvOptions csv_options(const std::string& path, const std::string& label) {
  CsvOptions o;
  o.path = path;
  o.label_column = label;
  return o;
}
inline NpyOptions npy_options(const std::string& path, const std::string& labels = "", float scale = 1.0f,
                              int64_t limit = 0, int64_t skip = 0) {
  NpyOptions o;
  o.path = path;
  o.labels_path = labels;
  o.scale = scale;
  o.limit = limit;
  o.skip = skip;
  return o;
}

inline bool numpy_available() {
  return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0;
}

// Skips the running test (exit 77) when numpy cannot be imported.
inline void require_numpy() {
  if (numpy_available()) return;
  std::printf("skipped: /usr/bin/python3 cannot import numpy (apt-get install python3-numpy)\n");
  std::fflush(stdout);
  std::_Exit(77);
}

// Runs a Python script (numpy imported as np) in `dir`; fails the test when it fails.
inline void run_numpy(const TempDir& dir, const std::string& script) {
  const std::string file = write_file(dir.file("script.py"), "import numpy as np\n" + script);
  const std::string command = "cd " + dir.path + " && /usr/bin/python3 " + file;
  REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "python failed: " << script);
}

}  // namespace hg::test
