// Small helpers of the Cortex-M int8 kernels (arm_dsp/, arm_mve/): SXTB16 of a word rotated by 8,
// and unaligned word loads. Device code only (ACLE, inline assembly).
#ifndef CAPSRT_KERNELS_ARM_DSP_SIMD32_H
#define CAPSRT_KERNELS_ARM_DSP_SIMD32_H

#include <arm_acle.h>

#include <cstdint>

namespace capsrt {
namespace dsp {

// SXTB16 of x rotated right by 8 bits: bytes 1 and 3 as int16 pairs (SXTB16 x gives bytes 0 and
// 2). Written out: GCC 12 neither has ACLE's __ror nor folds a rotation into SXTB16's operand.
inline uint32_t sxtb16_odd(uint32_t x) {
  uint32_t r;
  __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
  return r;
}

inline uint32_t load_word(const void* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

}  // namespace dsp
}  // namespace capsrt

#endif
