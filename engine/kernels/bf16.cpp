// bf16 conversion and the check for native bf16 kernels (kernels/bf16.h).
#include "kernels/bf16.h"

#include <dnnl.hpp>

#include "kernels/threading.h"

namespace hg {

void convert_to_bf16(const float* src, uint16_t* dst, int64_t count) {
  parallel_for(0, count, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) dst[i] = to_bf16(src[i]);
  });
}

std::string bf16_unavailable() {
  using dnnl::cpu_isa;
  const cpu_isa isa = dnnl::get_effective_cpu_isa();
  switch (isa) {
    case cpu_isa::avx512_core_bf16:
    case cpu_isa::avx512_core_amx:
      return "";
    default:
      break;
  }
  const char* name = isa == cpu_isa::avx512_core        ? "AVX-512 without bf16"
                     : isa == cpu_isa::avx512_core_vnni ? "AVX-512 VNNI without bf16"
                     : isa == cpu_isa::avx2             ? "AVX2"
                     : isa == cpu_isa::avx2_vnni        ? "AVX2 VNNI"
                                                        : "no AVX-512";
  return std::string("precision = bf16 needs a CPU with AVX512-BF16 or AMX-BF16 instructions; oneDNN runs ") +
         name + " kernels here" +
         " (ONEDNN_MAX_CPU_ISA may lower it); train in f32 (precision = f32) on this machine";
}

}  // namespace hg
