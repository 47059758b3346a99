// The int8 path's fixed-point steps on NEON lanes (armv7 and aarch64), written once for the NEON
// kernels (conv2d_q.cpp, conv2d_q_dot.cpp, caps_dense_q.cpp): each is fixed_point.h's scalar
// step, giving the same integers. vmull forms the exact 64-bit products; vrshl by -shift and
// vrshr add 2^(shift-1) and shift right arithmetically, which is fx::shift_round; vqmovn
// saturates to int32, which leaves a clamp inside int32 unchanged.
#ifndef CAPSRT_KERNELS_ARM_NEON_FIXED_POINT_NEON_H
#define CAPSRT_KERNELS_ARM_NEON_FIXED_POINT_NEON_H

#include <arm_neon.h>

#include "fixed_point_exp2.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace neon {

// fx::clamp32(fx::requantize(acc + offset, mult, shift), lo, hi) on 4 channels.
struct Requant4 {
  int32x4_t offset, mult, lo, hi;
  int64x2_t shift_lo, shift_hi;  // -shift
  Requant4(const simd::ConvQScratch& s, int o, int32_t out_min, int32_t out_max)
      : offset(vld1q_s32(s.offset + o)), mult(vld1q_s32(s.mult + o)), lo(vdupq_n_s32(out_min)),
        hi(vdupq_n_s32(out_max)) {
    const int32x4_t neg = vnegq_s32(vld1q_s32(s.shift + o));
    shift_lo = vmovl_s32(vget_low_s32(neg));
    shift_hi = vmovl_s32(vget_high_s32(neg));
  }
  int32x4_t operator()(int32x4_t sum) const {
    // The sums are added modulo 2^32 (the true sum fits int32).
    const int32x4_t acc = vreinterpretq_s32_u32(vaddq_u32(vreinterpretq_u32_s32(sum), vreinterpretq_u32_s32(offset)));
    const int64x2_t a = vrshlq_s64(vmull_s32(vget_low_s32(acc), vget_low_s32(mult)), shift_lo);
    const int64x2_t b = vrshlq_s64(vmull_s32(vget_high_s32(acc), vget_high_s32(mult)), shift_hi);
    return vminq_s32(vmaxq_s32(vcombine_s32(vqmovn_s64(a), vqmovn_s64(b)), lo), hi);
  }
};

// clamp32(shift_round(x, shift)) on 2 int64 lanes, shift >= 0 (vrshl by -shift; 0 leaves x).
inline int32x2_t shift_round_clamp32(int64x2_t x, int shift) {
  return vqmovn_s64(vrshlq_s64(x, vdupq_n_s64(-int64_t{shift})));
}

// fx::exp_neg_q30 on 2 lanes, given -x (0 <= -x < 2^32, x the Q16 logit difference); the
// result is at most 2^30.
inline uint32x2_t exp_neg_q30(uint32x2_t neg_x) {
  // z = shift_round(-x log2(e) in Q30, 30) (vrshr adds 2^29 and shifts).
  const uint64x2_t z = vrshrq_n_u64(vmull_u32(neg_x, vdup_n_u32(static_cast<uint32_t>(fx::kLog2eQ30))), 30);
  const uint32x2_t k = vmovn_u64(vshrq_n_u64(z, 16));  // < 2^18
  const int32x2_t t = vreinterpret_s32_u32(vshl_n_u32(vmovn_u64(vandq_u64(z, vdupq_n_u64(0xFFFF))), 14));
  const int32_t* a = fx::kExp2Q30;
  // Horner in Q30: |p| stays below the sum of the |a|, < 2^31, so every step fits int32.
  int32x2_t p = vdup_n_s32(a[5]);
  for (int n = 4; n >= 0; --n) p = vadd_s32(vmovn_s64(vrshrq_n_s64(vmull_s32(p, t), 30)), vdup_n_s32(a[n]));
  p = vadd_s32(vmovn_s64(vrshrq_n_s64(vmull_s32(p, t), 30)), vdup_n_s32(1 << 30));  // in (2^29, 2^30]
  // shift_round(p, k) (vrshl by -k; k capped at 63 for the count, as 0 from 31 on anyway).
  const int64x2_t count = vsubq_s64(vdupq_n_s64(0), vreinterpretq_s64_u64(vmovl_u32(vmin_u32(k, vdup_n_u32(63)))));
  const uint32x2_t r = vreinterpret_u32_s32(vmovn_s64(vrshlq_s64(vmovl_s32(p), count)));
  return vand_u32(r, vclt_u32(k, vdup_n_u32(31)));
}

}  // namespace neon
}  // namespace capsrt

#endif
