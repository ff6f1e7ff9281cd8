// libFuzzer harness: bytes as a safetensors file, checked against the format, every F32 tensor read back
// and the data checksum verified, in memory. hg::Error is the expected end of a bad file; anything else is
// a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/safetensors.h"
#include "support/diagnostics.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const hg::SafetensorsFile file("fuzz.safetensors",
                                   std::string(reinterpret_cast<const char*>(data), size));
    for (const hg::StoredTensor& t : file.tensors()) {
      if (t.dtype != "F32") continue;
      std::vector<float> values(size_t((t.end - t.begin) / 4));  // the tiling check bounds it by `size`
      file.read(t.name, t.shape, values.data(), "");
    }
    file.verify_checksum();
  } catch (const hg::Error&) {
  }
  return 0;
}
