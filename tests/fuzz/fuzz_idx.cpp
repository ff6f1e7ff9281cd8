// libFuzzer harness: IDX images files through read_idx. The first input byte picks how the rest reaches
// the reader: as a plain file, as raw bytes named .gz (the gzip layer itself), or gzip-compressed here
// first (so the fuzzer reaches the IDX checks behind a valid gzip stream). hg::Error is the expected end.
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "data/dataset.h"
#include "support/diagnostics.h"

namespace {

std::string scratch(const char* suffix) {
  return "/tmp/hg_fuzz_idx_" + std::to_string(::getpid()) + suffix;
}

bool write_plain(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

bool write_gzipped(const std::string& path, const uint8_t* data, size_t size) {
  gzFile gz = gzopen(path.c_str(), "wb1");
  if (!gz) return false;
  const bool ok = size == 0 || gzwrite(gz, data, unsigned(size)) == int(size);
  return gzclose(gz) == Z_OK && ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  const std::string path = scratch(mode == 0 ? ".idx" : ".idx.gz");
  const bool written =
      mode == 2 ? write_gzipped(path, data + 1, size - 1) : write_plain(path, data + 1, size - 1);
  if (!written) return 0;
  try {
    hg::read_idx(hg::IdxOptions{path, ""});
  } catch (const hg::Error&) {
  }
  std::remove(path.c_str());
  return 0;
}
