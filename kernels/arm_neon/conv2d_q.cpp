// NEON int8 convolution with widening multiplies (armv7 and aarch64); must match ref::conv2d_q
// bit for bit (the sums are exact; the requantisation is fx::requantize in 64-bit lanes, requant_q.h).
//
// Blocking: panels of 4 pixels packed in groups of 4 along K (simd/conv2d_q_pack.h) against the
// K4O weights, 16 bytes = 4 output channels x 4 k. Per group and pixel, the pixel's 4 inputs
// are repeated across 16 bytes; vmull_s8 gives int16 products for 2 channels x 4 k (each at most
// 128 x 127: no overflow), vpadalq_s16 adds their pairs into int32 lanes (2 per channel), and
// the two lanes of a channel are added at the end. Tile: 4 pixels x MR groups of 4 channels,
// 2 accumulators each: MR = 2 on aarch64 (16 of 32 q registers), 1 on armv7 (8 of 16).
#include <arm_neon.h>

#include "arm_neon/neon.h"
#include "arm_neon/requant_q.h"

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
  const Conv2DParams& g = p.geom;
  const int O = g.out_channels, groups = simd::conv_q_groups(g);
  const simd::ConvQScratch s = simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kInterleaved, scratch);
  simd::run_conv_q<MR, NR, 4, simd::PanelLayout::kInterleaved>(p, in, 0x00, s, out,
                              [=](int o0, const uint8_t* panel, int32_t (&y)[MR][NR][4]) {
    alignas(16) int8_t wtail[16 * MR];
    int32x4_t acc[MR][NR][2];
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n][0] = acc[m][n][1] = vdupq_n_s32(0);
    const bool full = o0 + 4 * MR <= O;
    for (int q = 0; q < groups; ++q) {
      const int8_t* wg = weights + (static_cast<size_t>(q) * O + o0) * 4;
      if (!full) {  // channels past O read as zero weights
        for (int b = 0; b < 16 * MR; ++b) wtail[b] = o0 * 4 + b < O * 4 ? wg[b] : int8_t{0};
        wg = wtail;
      }
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
    // Requantised with constant indices (keeps acc in registers above).
    for (int m = 0; m < MR; ++m) {
      const Requant4 rq(s, o0 + 4 * m, p.out_min, p.out_max);
      for (int n = 0; n < NR; ++n) vst1q_s32(y[m][n], rq(channel_totals(acc[m][n][0], acc[m][n][1])));
    }
  });
}

}  // namespace neon
}  // namespace capsrt
