// AVX-512 VNNI int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact, and
// the requantisation is fx::requantize in 64-bit lanes).
//
// Blocking: the output is a GEMM, out[o][pixel] = sum_k w[o][k] x[k][pixel]. For each panel of
// 6 pixels and each chunk of up to 2,048 k, the im2col columns are packed once
// (simd/conv2d_q_pack.h, pixel-major), then every block of 64 output channels runs the chunk's
// reduction in registers (its sums wait in scratch between chunks): per group of 4 k, 4 weight
// vectors (16 channels x 4 k each, contiguous in K4O) and 6 broadcasts of a pixel's 4 inputs
// feed 24 vpdpbusd, 64 multiply-adds each. 24 independent accumulators cover vpdpbusd's latency.
// vpdpbusd multiplies unsigned by signed bytes: a ReLU's output (>= 0) goes in as it is; any
// other input is packed as x + 128, and 128 x sum_k w[o][k] (summed once per call, with vpdpbusd
// against bytes of 1) is taken off each channel's bias. The 24 sums are then requantised in
// registers (Requant16, x86_avx512_vnni/fixed_point_avx512.h) and stored.
#include <immintrin.h>

#include "simd/conv2d_q_pack.h"
#include "x86_avx512_vnni/avx512_vnni.h"
#include "x86_avx512_vnni/fixed_point_avx512.h"

namespace capsrt {
namespace avx512_vnni {

namespace {
constexpr int MR = kConvQVectors, NR = kConvQPixels;

__mmask16 lanes_left(int left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF)
                    : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
}

// offset[o] -= 128 x sum_{k < K} w[o][k] (K4O), as vpdpbusd against bytes of 1; the last
// group's bytes past K count 0 (whatever the padding holds).
void fold_unsigned_correction(const int8_t* weights, int O, int K, int32_t* offset) {
  const int groups = (K + 3) / 4, last = K - 4 * (groups - 1);  // 1..4 real bytes in the last group
  const __m512i ones = _mm512_set1_epi8(1);
  const __m512i last_ones = _mm512_set1_epi32(static_cast<int32_t>(0x01010101u >> (8 * (4 - last))));
  for (int o0 = 0; o0 < O; o0 += 16) {
    const __mmask16 mask = lanes_left(O - o0);
    __m512i sum = _mm512_setzero_si512();
    for (int q = 0; q < groups; ++q)
      sum = _mm512_dpbusd_epi32(sum, q + 1 < groups ? ones : last_ones,
                                _mm512_maskz_loadu_epi32(mask, weights + (static_cast<size_t>(q) * O + o0) * 4));
    const __m512i off = _mm512_loadu_si512(offset + o0);
    _mm512_storeu_si512(offset + o0, _mm512_sub_epi32(off, _mm512_slli_epi32(sum, 7)));
  }
}

// The tile loop with MR blocks of 16 output channels (MR <= kConvQVectors).
template <int MR>
void conv2d_q_tiles(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const simd::ConvQScratch& s,
                    bool flip, void* out) {
  const int O = p.geom.out_channels;
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][16]) {
    // Lanes of the last block past O are masked off (their weights are not read).
    __mmask16 mask[MR];
    for (int m = 0; m < MR; ++m) mask[m] = lanes_left(O - (o0 + 16 * m));
    __m512i acc[MR][NR];
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) acc[m][n] = first ? _mm512_setzero_si512() : _mm512_load_si512(y[m][n]);
    const int8_t* wg = weights + (static_cast<size_t>(q0) * O + o0) * 4;
    const uint8_t* xg = panel;  // pixel n's group q at xg + n * 4 qn, xg advancing 4 per group
    const size_t stride = static_cast<size_t>(qn) * 4;
    for (int q = 0; q < qn; ++q, wg += static_cast<size_t>(O) * 4, xg += 4) {
      __m512i w[MR];
      for (int m = 0; m < MR; ++m) w[m] = _mm512_maskz_loadu_epi32(mask[m], wg + 64 * m);
      for (int n = 0; n < NR; ++n) {
        int32_t word;
        __builtin_memcpy(&word, xg + n * stride, 4);
        const __m512i b = _mm512_set1_epi32(word);
        for (int m = 0; m < MR; ++m) acc[m][n] = _mm512_dpbusd_epi32(acc[m][n], b, w[m]);
      }
    }
    // Out with constant indices (keeps acc in registers above).
    for (int m = 0; m < MR; ++m)
      for (int n = 0; n < NR; ++n) _mm512_store_si512(y[m][n], acc[m][n]);
  };
  auto requantise = [&](int o0, int32_t (&y)[MR][NR][16]) {  // the table covers every lane
    for (int m = 0; m < MR; ++m) {
      const Requant16 rq(s, o0 + 16 * m, p.out_min, p.out_max);
      for (int n = 0; n < NR; ++n) _mm512_store_si512(y[m][n], rq(_mm512_load_si512(y[m][n])));
    }
  };
  simd::run_conv_q_threads<MR, NR, 16, simd::PanelLayout::kPixelMajor>(p, in, flip ? 0x80 : 0x00, s, out, accumulate,
                                                               requantise);
}

}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const Conv2DParams& g = p.geom;
  const int O = g.out_channels;
  const simd::ConvQScratch s = simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kPixelMajor, scratch);
  const bool flip = !p.input_nonneg;
  if (flip) fold_unsigned_correction(weights, O, simd::conv_q_depth(g), s.offset);
  // As few blocks of 16 channels as O needs (conv1 of the small network has 16 channels: one
  // block, where four would run 4 times the vpdpbusd, 3 of them on zero weights).
  if (O <= 16)
    conv2d_q_tiles<1>(p, in, weights, s, flip, out);
  else if (O <= 32)
    conv2d_q_tiles<2>(p, in, weights, s, flip, out);
  else
    conv2d_q_tiles<MR>(p, in, weights, s, flip, out);
}

}  // namespace avx512_vnni
}  // namespace capsrt
