// NEON FMA peak loop (bench/fma_peak.hpp): 12 independent chains in q registers.
// Check the loop stays in registers: objdump -d shows fmla (vfma.f32 on armv7) with register operands only.
#include "fma_peak.hpp"

#include <arm_neon.h>

namespace capsrt {
namespace bench {

float fma_peak_neon(long iterations, float seed) {
  const float32x4_t m = vdupq_n_f32(0.999999f), a = vdupq_n_f32(1e-7f);
  float32x4_t c0 = vdupq_n_f32(seed), c1 = vdupq_n_f32(seed + 1), c2 = vdupq_n_f32(seed + 2), c3 = vdupq_n_f32(seed + 3);
  float32x4_t c4 = vdupq_n_f32(seed + 4), c5 = vdupq_n_f32(seed + 5), c6 = vdupq_n_f32(seed + 6), c7 = vdupq_n_f32(seed + 7);
  float32x4_t c8 = vdupq_n_f32(seed + 8), c9 = vdupq_n_f32(seed + 9), c10 = vdupq_n_f32(seed + 10), c11 = vdupq_n_f32(seed + 11);
  for (long n = 0; n < iterations; ++n) {
    c0 = vfmaq_f32(a, c0, m); c1 = vfmaq_f32(a, c1, m); c2 = vfmaq_f32(a, c2, m); c3 = vfmaq_f32(a, c3, m);
    c4 = vfmaq_f32(a, c4, m); c5 = vfmaq_f32(a, c5, m); c6 = vfmaq_f32(a, c6, m); c7 = vfmaq_f32(a, c7, m);
    c8 = vfmaq_f32(a, c8, m); c9 = vfmaq_f32(a, c9, m); c10 = vfmaq_f32(a, c10, m); c11 = vfmaq_f32(a, c11, m);
  }
  const float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(vaddq_f32(c0, c1), vaddq_f32(c2, c3)), vaddq_f32(vaddq_f32(c4, c5), vaddq_f32(c6, c7))),
                   vaddq_f32(vaddq_f32(c8, c9), vaddq_f32(c10, c11)));
  return vgetq_lane_f32(s, 0);
}

}  // namespace bench
}  // namespace capsrt
