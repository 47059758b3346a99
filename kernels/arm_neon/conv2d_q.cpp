// NEON int8 convolution with widening multiplies (armv7 and aarch64); must match ref::conv2d_q
// bit for bit (the sums are exact; the requantisation is fx::requantize in 64-bit lanes, fixed_point_neon.h).
//
// Blocking: panels of 4 pixels packed in groups of 4 along K (simd/conv2d_q_pack.h) against the
// K4O weights, 16 bytes = 4 output channels x 4 k. Per group and pixel, the pixel's 4 inputs
// are repeated across 16 bytes; vmull_s8 gives int16 products for 2 channels x 4 k (each at most
// 128 x 127: no overflow), vpadalq_s16 adds their pairs into int32 lanes (2 per channel), and
// the two lanes of a channel are added at the end. Tile: 4 pixels x MR groups of 4 channels,
// 2 accumulators each: MR = 2 on aarch64 (16 of 32 q registers), 1 on armv7 (8 of 16).
#include <arm_neon.h>

#include "arm_neon/neon.h"
#include "arm_neon/conv2d_q_common.h"

namespace capsrt {
namespace neon {

namespace {

#if defined(__aarch64__)
constexpr int MR = 2;
#else
constexpr int MR = 1;
#endif
constexpr int NR = kConvQPixels;

// [c0 c0 c1 c1] and [c2 c2 c3 c3] partial sums -> the 4 channels' totals.
int32x4_t channel_totals(int32x4_t a, int32x4_t b) {
  const int32x2_t lo = vpadd_s32(vget_low_s32(a), vget_high_s32(a));
  const int32x2_t hi = vpadd_s32(vget_low_s32(b), vget_high_s32(b));
  return vcombine_s32(lo, hi);
}

}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const int O = p.geom.out_channels;
  const simd::ConvQScratch s = simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kInterleaved, scratch);
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][4]) {
    alignas(16) int8_t wtail[16 * MR];
    int32x4_t acc[MR][NR][2];
    const int32x2_t zero = vdup_n_s32(0);
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) {
        // The sums so far as [t0 0 t1 0] and [t2 0 t3 0] (channel_totals adds the pairs).
        const int32x4_t t = first ? vdupq_n_s32(0) : vld1q_s32(y[m][n]);
        const int32x2x2_t lo = vzip_s32(vget_low_s32(t), zero), hi = vzip_s32(vget_high_s32(t), zero);
        acc[m][n][0] = vcombine_s32(lo.val[0], lo.val[1]);
        acc[m][n][1] = vcombine_s32(hi.val[0], hi.val[1]);
      }
    for (int q = 0; q < qn; ++q) {
      const int8_t* wg = weight_block(weights, O, o0, q0 + q, 4 * MR, wtail);
      int8x16_t w[MR];
      for (int m = 0; m < MR; ++m) w[m] = vld1q_s8(wg + 16 * m);
      for (int n = 0; n < NR; ++n) {
        int32_t word;
        __builtin_memcpy(&word, panel + (q * NR + n) * 4, 4);
        const int8x8_t x = vreinterpret_s8_s32(vdup_n_s32(word));
        for (int m = 0; m < MR; ++m) {
          acc[m][n][0] = vpadalq_s16(acc[m][n][0], vmull_s8(vget_low_s8(w[m]), x));
          acc[m][n][1] = vpadalq_s16(acc[m][n][1], vmull_s8(vget_high_s8(w[m]), x));
        }
      }
    }
    // Out with constant indices (keeps acc in registers above).
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) vst1q_s32(y[m][n], channel_totals(acc[m][n][0], acc[m][n][1]));
  };
  auto requantise = [&](int o0, int32_t (&y)[MR][NR][4]) {  // the table covers every lane
    for (int m = 0; m < MR; ++m) {
      const Requant4 rq(s, o0 + 4 * m, p.out_min, p.out_max);
      for (int n = 0; n < NR; ++n) vst1q_s32(y[m][n], rq(vld1q_s32(y[m][n])));
    }
  };
  simd::run_conv_q_threads<MR, NR, 4, simd::PanelLayout::kInterleaved>(p, in, 0x00, s, out, accumulate, requantise);
}

}  // namespace neon
}  // namespace capsrt
