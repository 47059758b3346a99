// What the two NEON int8 convolutions (conv2d_q.cpp, conv2d_q_dot.cpp) share: their weight
// blocks, and the requantisation,
// fx::clamp32(fx::requantize(acc + offset, mult, shift), lo, hi) on 4 channels. vmull_s32 forms
// the exact 64-bit products; vrshlq_s64 by -shift adds 2^(shift-1) and shifts right
// arithmetically, which is fx::shift_round; vqmovn_s64 saturates to int32, which leaves the
// clamp to [lo, hi] (inside int32) unchanged.
#ifndef CAPSRT_KERNELS_ARM_NEON_REQUANT_Q_H
#define CAPSRT_KERNELS_ARM_NEON_REQUANT_Q_H

#include <arm_neon.h>

#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace neon {

// Weight group q of output channels [o0, o0 + channels) in K4O (4 bytes a channel): in place,
// or, for a block past O, copied into `tail` with the missing channels' weights 0.
inline const int8_t* weight_block(const int8_t* weights, int O, int o0, int q, int channels, int8_t* tail) {
  const int8_t* wg = weights + (static_cast<size_t>(q) * O + o0) * 4;
  if (o0 + channels <= O) return wg;
  for (int b = 0; b < 4 * channels; ++b) tail[b] = o0 * 4 + b < O * 4 ? wg[b] : int8_t{0};
  return tail;
}

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

}  // namespace neon
}  // namespace capsrt

#endif
