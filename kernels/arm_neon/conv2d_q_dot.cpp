// NEON int8 convolution with sdot (armv8.2-a+dotprod); must match ref::conv2d_q bit for bit.
//
// Blocking as conv2d_q.cpp (panels of 4 pixels, K4O weights: 16 bytes = 4 channels x 4 k), but
// one vdotq_laneq_s32 multiplies 4 channels' 4 weights by a pixel's 4 inputs (a 32-bit lane of
// the panel's 16 bytes for the 4 pixels) and adds each channel's 4 products into its int32 lane.
// Tile: 4 pixels x 4 groups of 4 channels = 16 accumulators, 4 weight vectors, 1 panel vector.
#include <arm_neon.h>

#include "arm_neon/neon.h"
#include "arm_neon/conv2d_q_common.h"

namespace capsrt {
namespace neon {

namespace {
constexpr int MR = 4, NR = kConvQPixels;
static_assert(NR == 4, "one 16-byte panel load holds the 4 pixels of a group");
}  // namespace

void conv2d_q_dot(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
                  const int32_t* requant, void* out, void* scratch) {
  const int O = p.geom.out_channels;
  const simd::ConvQScratch s = simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kInterleaved, scratch);
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][4]) {
    alignas(16) int8_t wtail[16 * MR];
    int32x4_t acc[MR][NR];
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n] = first ? vdupq_n_s32(0) : vld1q_s32(y[m][n]);
    for (int q = 0; q < qn; ++q) {
      const int8_t* wg = weight_block(weights, O, o0, q0 + q, 4 * MR, wtail);
      const int8x16_t x = vld1q_s8(reinterpret_cast<const int8_t*>(panel) + q * NR * 4);
      for (int m = 0; m < MR; ++m) {
        const int8x16_t w = vld1q_s8(wg + 16 * m);
        acc[m][0] = vdotq_laneq_s32(acc[m][0], w, x, 0);
        acc[m][1] = vdotq_laneq_s32(acc[m][1], w, x, 1);
        acc[m][2] = vdotq_laneq_s32(acc[m][2], w, x, 2);
        acc[m][3] = vdotq_laneq_s32(acc[m][3], w, x, 3);
      }
    }
    // Out with constant indices (keeps acc in registers above).
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) vst1q_s32(y[m][n], acc[m][n]);
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
