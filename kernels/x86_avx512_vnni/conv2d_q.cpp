// AVX-512 VNNI int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact, and
// the requantisation is the shared scalar one).
//
// Blocking: the output is a GEMM, out[o][pixel] = sum_k w[o][k] x[k][pixel]. For each panel of
// 6 pixels the im2col columns are packed once (simd/conv2d_q_pack.h, K x 6 bytes), then every
// block of 64 output channels runs the whole reduction in registers: per group of 4 k, 4 weight
// vectors (16 channels x 4 k each, contiguous in K4O) and 6 broadcasts of a pixel's 4 inputs
// feed 24 vpdpbusd, 64 multiply-adds each. 24 independent accumulators cover vpdpbusd's latency.
// vpdpbusd multiplies unsigned by signed bytes: a ReLU's output (>= 0) goes in as it is; any
// other input is packed as x + 128, and 128 x sum_k w[o][k] is taken off each sum afterwards.
#include <immintrin.h>

#include "simd/conv2d_q_pack.h"
#include "x86_avx512_vnni/avx512_vnni.h"

namespace capsrt {
namespace avx512_vnni {

namespace {
constexpr int MR = kConvQVectors, NR = kConvQPixels;
uint64_t align64(uint64_t n) { return (n + 63) / 64 * 64; }
}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const Conv2DParams& g = p.geom;
  const int O = g.out_channels, groups = simd::conv_q_groups(g), K = simd::conv_q_depth(g);
  const int pixels = g.out_height * g.out_width;
  uint8_t* panel = static_cast<uint8_t*>(scratch);
  int32_t* correction = reinterpret_cast<int32_t*>(panel + align64(static_cast<uint64_t>(groups) * 4 * NR));
  const bool flip = !p.input_nonneg;
  // bias[o] - 128 sum_k w[o][k] when the input is packed as x + 128.
  for (int o = 0; o < O; ++o) {
    int32_t sum = 0;
    if (flip)
      for (int k = 0; k < K; ++k) sum += weights[k4o_index(O, o, k)];
    correction[o] = bias[o] - 128 * sum;
  }
  for (int n0 = 0; n0 < pixels; n0 += NR) {
    simd::pack_conv_q_panel(p, in, n0, NR, flip ? 0x80 : 0x00, panel);
    const int nr = pixels - n0 < NR ? pixels - n0 : NR;
    for (int o0 = 0; o0 < O; o0 += 16 * MR) {
      // Lanes of the last block past O are masked off (their weights are not read).
      __mmask16 mask[MR];
      for (int m = 0; m < MR; ++m) {
        const int left = O - (o0 + 16 * m);
        mask[m] = left >= 16 ? static_cast<__mmask16>(0xFFFF)
                             : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
      }
      __m512i acc[MR][NR];
      for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) acc[m][n] = _mm512_setzero_si512();
      const int8_t* wg = weights + static_cast<size_t>(o0) * 4;
      const uint8_t* xg = panel;
      for (int q = 0; q < groups; ++q, wg += static_cast<size_t>(O) * 4, xg += NR * 4) {
        __m512i w[MR];
        for (int m = 0; m < MR; ++m) w[m] = _mm512_maskz_loadu_epi32(mask[m], wg + 64 * m);
        for (int n = 0; n < NR; ++n) {
          int32_t word;
          __builtin_memcpy(&word, xg + 4 * n, 4);
          const __m512i b = _mm512_set1_epi32(word);
          for (int m = 0; m < MR; ++m) acc[m][n] = _mm512_dpbusd_epi32(acc[m][n], b, w[m]);
        }
      }
      // All accumulators out first, with constant indices: the K loop above keeps them in
      // registers only if nothing later indexes them at run time.
      alignas(64) int32_t tile[MR][NR][16];
      for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) _mm512_store_si512(tile[m][n], acc[m][n]);
      simd::store_conv_q_tile(p, requant, correction, tile, o0, n0, nr, out);
    }
  }
}

}  // namespace avx512_vnni
}  // namespace capsrt
