// The int8 routing's exponential in Helium vectors: 4 lanes of fx::exp_neg_q30_u32
// (arm_dsp/routing_q32.h), exactly. Device code only (arm_mve.h); the M-profile kernel tests
// compare it with the scalar form on the core over the whole range of its input.
//
// Every 32 x 32 -> 64-bit step of the scalar form is split into 32-bit lanes:
//   z = (u log2e + 2^29) >> 30:   VMULH gives the product's high word Hi, VMUL its low word Lo,
//                                 z = 4 Hi + (Lo + 2^29) >> 30 (a rounding shift, exact); lanes
//                                 with Hi >= 31 x 2^14 have k >= 31 and give 0;
//   each Horner step (p t + 2^29) >> 30, p signed, 0 <= t < 2^30: VQDMULH gives
//                                 H = floor(p t / 2^31), the low word L = p t mod 2^31, and the
//                                 step is 2 H + (L + 2^29) >> 30;
//   the last shift by k:          a rounding shift right by each lane's k.
#ifndef CAPSRT_KERNELS_ARM_MVE_ROUTING_MVE_H
#define CAPSRT_KERNELS_ARM_MVE_ROUTING_MVE_H

#include <arm_mve.h>

#include "fixed_point.h"

namespace capsrt {
namespace mve {

// (p t + 2^29) >> 30 in each lane.
inline int32x4_t horner_step(int32x4_t p, int32x4_t t) {
  const int32x4_t h = vqdmulhq_s32(p, t);
  const uint32x4_t l = vandq_u32(vreinterpretq_u32_s32(vmulq_s32(p, t)), vdupq_n_u32(0x7FFFFFFFu));
  return vaddq_s32(vaddq_s32(h, h), vreinterpretq_s32_u32(vrshlq_n_u32(l, -30)));
}

// fx::exp_neg_q30_u32(u) in each lane.
inline uint32x4_t exp_neg_q30_u32(uint32x4_t u) {
  const uint32_t c = static_cast<uint32_t>(fx::kLog2eQ30);
  const uint32x4_t hi = vmulhq_u32(u, vdupq_n_u32(c)), lo = vmulq_u32(u, vdupq_n_u32(c));
  const uint32x4_t z = vaddq_u32(vshlq_n_u32(hi, 2), vrshlq_n_u32(lo, -30));  // exact below 2^32
  // k = z >> 16 >= 31 gives 0: lanes whose high word already says so (4 Hi may wrap there), and
  // the others by z itself.
  const mve_pred16_t zero = vcmpcsq_n_u32(hi, 31u << 14) | vcmpcsq_n_u32(z, 31u << 16);
  const int32x4_t k = vreinterpretq_s32_u32(vshrq_n_u32(z, 16));
  const int32x4_t t = vreinterpretq_s32_u32(vshlq_n_u32(vandq_u32(z, vdupq_n_u32(0xFFFFu)), 14));
  int32x4_t p = vdupq_n_s32(fx::kExp2Q30[5]);
  for (int n = 4; n >= 0; --n) p = vaddq_s32(horner_step(p, t), vdupq_n_s32(fx::kExp2Q30[n]));
  const uint32x4_t q = vreinterpretq_u32_s32(vaddq_s32(horner_step(p, t), vdupq_n_s32(1 << 30)));
  const uint32x4_t e = vrshlq_u32(q, vnegq_s32(k));  // (q + 2^(k-1)) >> k; q itself for k = 0
  return vpselq_u32(vdupq_n_u32(0), e, zero);
}

}  // namespace mve
}  // namespace capsrt

#endif
