// bfloat16 (the top 16 bits of an f32) for `precision = bf16`: the conversion every bf16 kernel and the
// reference path use, and whether this CPU's oneDNN has native bf16 kernels.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace hg {

// f32 -> bf16, rounding to nearest even (as VCVTNEPS2BF16 does for normal numbers); NaN stays a quiet NaN.
inline uint16_t to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return uint16_t((bits >> 16) | 0x40);  // NaN
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}
inline float from_bf16(uint16_t value) {
  const uint32_t bits = uint32_t(value) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}
// The f32 nearest to `value` that bf16 holds: what a bf16 operand of `value` means to a kernel.
inline float round_to_bf16(float value) {
  return from_bf16(to_bf16(value));
}

// `count` values converted on the math threads (for operands of a GEMM: a pass over memory).
void convert_to_bf16(const float* src, uint16_t* dst, int64_t count);

// Empty when oneDNN runs bf16 GEMMs natively here (AVX512-BF16 or AMX-BF16 within the ISA it may use, which
// ONEDNN_MAX_CPU_ISA can lower); otherwise a sentence naming what this CPU lacks.
std::string bf16_unavailable();

}  // namespace hg
