// The mve int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact in int32;
// the requantisation is fx::requantize, in fx::Requant32's 32-bit steps).
//
// Blocking: a tile of 2 pixels x 3 output channels over the reduction, 16 inputs (4 K4O groups)
// at a time: 6 sums, as VMLADAVA takes its accumulator in an even register (r0 .. r12, lr) and
// 8 (a tile of 4 channels) left GCC spilling them in the loop (35 instructions a step). A pixel's 16 inputs are one vector load of the pixel-major panel
// (simd/conv2d_q_pack.h); a channel's 16 weights are 4 words of the K4O weights, 4 O bytes apart,
// gathered into one vector (VLDRW gather with offsets {0, 4 O, 8 O, 12 O}); VMLADAVA multiplies
// the 16 int8 pairs and adds them all to a 32-bit sum. Per 16 inputs: 3 gathers, 2 loads and 6
// VMLADAVA make 96 multiply-adds. The last 1 to 3 groups are predicated (VCTP), so nothing past
// the panel or the weights is read. A tile's channels past O are left out.
#include <arm_mve.h>

#include "arm_dsp/routing_q32.h"
#include "arm_mve/mve.h"

// conv2d_q_tile.S: tile_sums<3>'s whole steps in assembly.
extern "C" void capsrt_mve_tile_sums3(const int8_t* w, const int8_t* x0, const int8_t* x1, int32_t* a, uint32_t o4,
                                      int32_t steps);

namespace capsrt {
namespace mve {

namespace {

constexpr int NR = kConvQPixels;  // pixels of a tile
constexpr int MR = 1;
constexpr int L = 3;              // output channels of a tile

// Channel c's sums over groups [0, qn) for kChannels channels (1 to 3) and the tile's 2 pixels:
// a[c][n] += sum over k of w(o0 + c, k) x(pixel n, k).
template <int kChannels>
void tile_sums(const int8_t* w, uint32x4_t offsets, size_t w_step16, const int8_t* x0, const int8_t* x1, int qn,
               int32_t (&a)[L][NR]) {
  int q = 0;
  if (kChannels == 3 && qn >= 4) {  // the whole steps in conv2d_q_tile.S
    int32_t t[6] = {a[0][0], a[0][1], a[1][0], a[1][1], a[2][0], a[2][1]};
    capsrt_mve_tile_sums3(w, x0, x1, t, static_cast<uint32_t>(w_step16 / 4), qn / 4);
    a[0][0] = t[0], a[0][1] = t[1], a[1][0] = t[2], a[1][1] = t[3], a[2][0] = t[4], a[2][1] = t[5];
    q = qn / 4 * 4;
    w += w_step16 * static_cast<size_t>(qn / 4), x0 += 4 * q, x1 += 4 * q;
  }
  int32_t s[kChannels][NR];
  for (int c = 0; c < kChannels; ++c) s[c][0] = a[c][0], s[c][1] = a[c][1];
  for (; q + 4 <= qn; q += 4, w += w_step16, x0 += 16, x1 += 16) {
    const int8x16_t xa = vld1q_s8(x0), xb = vld1q_s8(x1);
    for (int c = 0; c < kChannels; ++c) {
      const int8x16_t wc = vreinterpretq_s8_s32(vldrwq_gather_offset_s32(reinterpret_cast<const int32_t*>(w + 4 * c), offsets));
      s[c][0] = vmladavaq_s8(s[c][0], wc, xa);
      s[c][1] = vmladavaq_s8(s[c][1], wc, xb);
    }
  }
  if (q < qn) {  // 1 to 3 groups left: predicated loads (inactive lanes read as 0)
    const int r = qn - q;
    const mve_pred16_t p8 = vctp8q(static_cast<uint32_t>(4 * r)), p32 = vctp32q(static_cast<uint32_t>(r));
    const int8x16_t xa = vld1q_z_s8(x0, p8), xb = vld1q_z_s8(x1, p8);
    for (int c = 0; c < kChannels; ++c) {
      const int8x16_t wc =
          vreinterpretq_s8_s32(vldrwq_gather_offset_z_s32(reinterpret_cast<const int32_t*>(w + 4 * c), offsets, p32));
      s[c][0] = vmladavaq_s8(s[c][0], wc, xa);
      s[c][1] = vmladavaq_s8(s[c][1], wc, xb);
    }
  }
  for (int c = 0; c < kChannels; ++c) a[c][0] = s[c][0], a[c][1] = s[c][1];
}

}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const int O = p.geom.out_channels;
  const simd::ConvQScratch s =
      simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kPixelMajor, scratch);
  const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), static_cast<uint32_t>(4 * O));
  const size_t w_step16 = static_cast<size_t>(O) * 16;  // 4 groups
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][L]) {
    int32_t a[L][NR] = {};
    if (!first)
      for (int c = 0; c < L; ++c) a[c][0] = y[0][0][c], a[c][1] = y[0][1][c];
    const int8_t* w = weights + (static_cast<size_t>(q0) * O + o0) * 4;
    const int8_t* x0 = reinterpret_cast<const int8_t*>(panel);
    const int8_t* x1 = x0 + 4 * qn;
    switch (O - o0 < L ? O - o0 : L) {
      case 3: tile_sums<3>(w, offsets, w_step16, x0, x1, qn, a); break;
      case 2: tile_sums<2>(w, offsets, w_step16, x0, x1, qn, a); break;
      default: tile_sums<1>(w, offsets, w_step16, x0, x1, qn, a); break;
    }
    for (int c = 0; c < L; ++c) y[0][0][c] = a[c][0], y[0][1][c] = a[c][1];
  };
  auto requantise = [&](int o0, int32_t (&y)[MR][NR][L]) { fx::requantise_conv_tile(p, s, o0, y); };
  simd::run_conv_q<MR, NR, L, simd::PanelLayout::kPixelMajor>(p, in, 0x00, s, out, accumulate, requantise);
}

}  // namespace mve
}  // namespace capsrt
