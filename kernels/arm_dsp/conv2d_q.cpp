// The armv7em-dsp int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact in
// int32; the requantisation is fx::requantize).
//
// Blocking (CMSIS-NN's technique for the DSP extension): a 2 x 2 block of outputs, 2 pixels x 2
// output channels, per inner loop, over the K4O groups of 4 inputs. Inputs are widened once per
// panel: the interleaved int8 panel (simd/conv2d_q_pack.h, one word per pixel and group) becomes
// int16 pairs, SXTB16 x -> (x0, x2) and SXTB16 (x ror 8) -> (x1, x3), which every block of
// channels then reads as they are. Weights stay int8 in flash: a channel's group is one word,
// widened the same way in the loop. Per group: one doubleword load of the 2 channels' weights,
// 4 SXTB16, two doubleword loads of the 2 pixels' inputs and 8 SMLAD (two 16 x 16
// multiply-accumulates each) make 16 multiply-adds. 4 accumulators, 4 widened weights, 2 inputs
// and the pointers fit Thumb-2's 13 general registers. The sums are exact: |x w| <= 128 x 128 and
// K is bounded by the validator.
#include <arm_acle.h>

#include "arm_dsp/dsp.h"
#include "arm_dsp/routing_q32.h"
#include "arm_dsp/simd32.h"

namespace capsrt {
namespace dsp {

namespace {

constexpr int NR = kConvQPixels;  // pixels of a block
constexpr int MR = 1;             // blocks of L channels per tile
constexpr int L = 2;              // output channels of a block

inline uint32_t sxtb16_even(uint32_t x) { return __sxtb16(x); }

// The panel's groups [0, qn) widened: group q, pixel n -> words 2 (q NR + n) and + 1.
void widen_panel(const uint8_t* panel, int qn, uint32_t* wide) {
  for (int w = 0; w < qn * NR; ++w) {
    const uint32_t x = load_word(panel + 4 * w);
    wide[2 * w] = sxtb16_even(x);
    wide[2 * w + 1] = sxtb16_odd(x);
  }
}

// The last channel of an odd count: its sums for the 2 pixels over groups [0, qn) of the wide
// panel, added to a[0] (pixel 0) and a[2] (pixel 1). The 2-channel loop every other block runs
// is capsrt_dsp_block_sums2 (conv2d_q_block.S), the same steps for a second channel.
void channel_sums(const uint32_t* x, const int8_t* w, size_t w_step, int qn, int32_t* a) {
  int32_t a0 = a[0], a1 = a[2];
  for (int q = 0; q < qn; ++q, x += 4, w += w_step) {
    const uint32_t wv = load_word(w);
    const uint32_t we = sxtb16_even(wv), wo = sxtb16_odd(wv);
    a0 = __smlad(x[1], wo, __smlad(x[0], we, a0));  // pixel 0: (x0, x2), (x1, x3)
    a1 = __smlad(x[3], wo, __smlad(x[2], we, a1));  // pixel 1
  }
  a[0] = a0, a[2] = a1;
}

}  // namespace

}  // namespace dsp
}  // namespace capsrt

// conv2d_q_block.S: a 2 x 2 block's sums in Thumb-2 assembly (GCC 12 split its doubleword
// loads and spilled in C).
extern "C" void capsrt_dsp_block_sums2(const uint32_t* x, const int8_t* w, uint32_t w_step, int32_t qn, int32_t* a);

namespace capsrt {
namespace dsp {

namespace {

// A reduction of one chunk (K at most 4 kConvQChunkGroups): per pair of pixels, both pixels'
// vectors are packed side by side in the panel's place (no interleaving), widened straight into
// the int16 panel, and every pair of channels runs capsrt_dsp_block_sums2 and its epilogue here:
// run_conv_q's general tile loop (partial sums, tiles in memory, interleaved panels) cost about
// as much as the small PrimaryCaps conv's multiply-adds took outside the inner loop. OutT: int8
// or int16 outputs.
template <typename OutT>
void conv2d_q_one_chunk(const Conv2DQParams& p, const int8_t* in, const int8_t* weights,
                        const simd::ConvQScratch& s, uint32_t* wide, OutT* out) {
  const Conv2DParams& g = p.geom;
  const int O = g.out_channels, K = simd::conv_q_depth(g), groups = simd::conv_q_groups(g);
  const int pixels = g.out_height * g.out_width;
  const int32_t lo = p.out_min, hi = p.out_max;
  uint8_t* const col[2] = {s.panel, s.panel + 4 * groups};
  for (int n0 = 0; n0 < pixels; n0 += NR) {
    const int nr = pixels - n0 < NR ? pixels - n0 : NR;
    for (int n = 0; n < NR; ++n) {
      if (n < nr) {
        simd::pack_conv_q_pixel(p, in, n0 + n, 0x00, 0, K, col[n]);
        for (int k = K; k < 4 * groups; ++k) col[n][k] = 0;
      } else {
        for (int k = 0; k < 4 * groups; ++k) col[n][k] = 0;
      }
    }
    for (int q = 0; q < groups; ++q) {
      const uint32_t x0 = load_word(col[0] + 4 * q), x1 = load_word(col[1] + 4 * q);
      uint32_t* w = wide + 4 * q;
      w[0] = sxtb16_even(x0), w[1] = sxtb16_odd(x0), w[2] = sxtb16_even(x1), w[3] = sxtb16_odd(x1);
    }
    for (int o0 = 0; o0 < O; o0 += L) {
      int32_t a[4] = {0, 0, 0, 0};  // {pixel 0: o0, o0 + 1; pixel 1: o0, o0 + 1}
      if (o0 + 1 < O)
        capsrt_dsp_block_sums2(wide, weights + static_cast<size_t>(o0) * 4, static_cast<uint32_t>(O) * 4, groups, a);
      else  // the last channel of an odd O
        channel_sums(wide, weights + static_cast<size_t>(o0) * 4, static_cast<size_t>(O) * 4, groups, a);
      for (int l = 0; l < L && o0 + l < O; ++l) {
        const int o = o0 + l;
        const int32_t offset = s.offset[o];
        const fx::Requant32 rq(s.mult[o], s.shift[o]);
        OutT* dst = out + static_cast<size_t>(o) * pixels + n0;
        for (int n = 0; n < nr; ++n) {
          // the bias added modulo 2^32, as the sums are exact
          const int32_t sum = static_cast<int32_t>(static_cast<uint32_t>(a[2 * n + l]) + static_cast<uint32_t>(offset));
          dst[n] = static_cast<OutT>(rq(sum, lo, hi));
        }
      }
    }
  }
}

}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const int O = p.geom.out_channels;
  const simd::ConvQScratch s =
      simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kInterleaved, scratch);
  uint32_t* wide = reinterpret_cast<uint32_t*>(static_cast<uint8_t*>(scratch) +
                                               simd::conv_q_scratch_size(p.geom, NR, simd::PanelLayout::kInterleaved));
  if (simd::conv_q_groups(p.geom) <= simd::kConvQChunkGroups) {
    if (p.out_bytes == 2)
      conv2d_q_one_chunk(p, in, weights, s, wide, static_cast<int16_t*>(out));
    else
      conv2d_q_one_chunk(p, in, weights, s, wide, static_cast<int8_t*>(out));
    return;
  }
  // Longer reductions (K above 2,048) in chunks, through the shared tile loop.
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][L]) {
    if (o0 == 0) widen_panel(panel, qn, wide);  // the first block of each panel and chunk
    int32_t a[4] = {0, 0, 0, 0};
    if (!first) a[0] = y[0][0][0], a[1] = y[0][0][1], a[2] = y[0][1][0], a[3] = y[0][1][1];
    const int8_t* w = weights + (static_cast<size_t>(q0) * O + o0) * 4;
    if (o0 + 1 < O)
      capsrt_dsp_block_sums2(wide, w, static_cast<uint32_t>(O) * 4, qn, a);
    else  // the last channel of an odd O
      channel_sums(wide, w, static_cast<size_t>(O) * 4, qn, a);
    y[0][0][0] = a[0], y[0][0][1] = a[1], y[0][1][0] = a[2], y[0][1][1] = a[3];
  };
  auto requantise = [&](int o0, int32_t (&y)[MR][NR][L]) { fx::requantise_conv_tile(p, s, o0, y); };
  simd::run_conv_q<MR, NR, L, simd::PanelLayout::kInterleaved>(p, in, 0x00, s, out, accumulate, requantise);
}

}  // namespace dsp
}  // namespace capsrt
