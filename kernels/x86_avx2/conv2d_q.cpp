// AVX2 int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact, and the
// requantisation is fx::requantize in 64-bit lanes).
//
// Blocking as the AVX-512 VNNI kernel (x86_avx512_vnni/conv2d_q.cpp), with 2 vectors of 8 output
// channels x 4 pixels = 8 ymm accumulators, or 1 x 12 for large weights (avx2.h). Per group of 4 k: vpmaddubsw multiplies a pixel's 4
// inputs (broadcast, as unsigned bytes) by 8 channels' 4 weights into int16 pair sums, vpmaddwd
// by ones adds the pairs into int32. vpmaddubsw saturates its int16 pair sums: a ReLU's output
// (0..127) times weights in [-127, 127] stays below 2 x 127 x 127 = 32,258; any other input goes
// in as |x| with the weight's sign flipped where x < 0 (vpsignb), and |x| <= 128 keeps the pair
// sums below 2 x 128 x 127 = 32,512. Neither ever saturates. The sums are requantised in
// registers (Requant8, x86_avx2/fixed_point_avx2.h).
#include <immintrin.h>

#include "simd/conv2d_q_pack.h"
#include "x86_avx2/avx2.h"
#include "x86_avx2/fixed_point_avx2.h"

namespace capsrt {
namespace avx2 {

namespace {

// The tile's sums over groups [q0, q0 + qn), added to y (or from zero if `first`), back in y.
template <int MR, int NR, bool kSigned, bool kFull>
void tile(const int8_t* weights, const uint8_t* panel, int O, int o0, int q0, int qn, bool first,
          const __m256i* mask, int32_t (&y)[MR][NR][8]) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i acc[MR][NR];
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n)
      acc[m][n] = first ? _mm256_setzero_si256() : _mm256_load_si256(reinterpret_cast<const __m256i*>(y[m][n]));
  const int8_t* wg = weights + (static_cast<size_t>(q0) * O + o0) * 4;
  const uint8_t* xg = panel;  // pixel n's group q at xg + n * 4 qn, xg advancing 4 per group
  const size_t stride = static_cast<size_t>(qn) * 4;
  for (int q = 0; q < qn; ++q, wg += static_cast<size_t>(O) * 4, xg += 4) {
    __m256i w[MR];
    for (int m = 0; m < MR; ++m)
      w[m] = kFull ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wg + 32 * m))
                   : _mm256_maskload_epi32(reinterpret_cast<const int*>(wg + 32 * m), mask[m]);
    for (int n = 0; n < NR; ++n) {
      int32_t word;
      __builtin_memcpy(&word, xg + n * stride, 4);
      const __m256i b = _mm256_set1_epi32(word);
      const __m256i x = kSigned ? _mm256_abs_epi8(b) : b;
      for (int m = 0; m < MR; ++m) {
        const __m256i wm = kSigned ? _mm256_sign_epi8(w[m], b) : w[m];
        const __m256i pairs = _mm256_maddubs_epi16(x, wm);
        acc[m][n] = _mm256_add_epi32(acc[m][n], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
  // Out with constant indices (keeps acc in registers above).
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) _mm256_store_si256(reinterpret_cast<__m256i*>(y[m][n]), acc[m][n]);
}

template <int MR, int NR>
void conv(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
          const int32_t* requant, void* out, void* scratch) {
  const int O = p.geom.out_channels;
  const simd::ConvQScratch s = simd::carve_conv_q_scratch(p, bias, requant, NR, simd::PanelLayout::kPixelMajor, scratch);
  auto accumulate = [=](int o0, const uint8_t* panel, int q0, int qn, bool first, int32_t (&y)[MR][NR][8]) {
    __m256i mask[MR];  // lanes (channels) past O are not loaded
    for (int m = 0; m < MR; ++m)
      mask[m] = _mm256_cmpgt_epi32(_mm256_set1_epi32(O - (o0 + 8 * m)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const bool full = o0 + 8 * MR <= O;
    if (p.input_nonneg && full)
      tile<MR, NR, false, true>(weights, panel, O, o0, q0, qn, first, mask, y);
    else if (p.input_nonneg)
      tile<MR, NR, false, false>(weights, panel, O, o0, q0, qn, first, mask, y);
    else if (full)
      tile<MR, NR, true, true>(weights, panel, O, o0, q0, qn, first, mask, y);
    else
      tile<MR, NR, true, false>(weights, panel, O, o0, q0, qn, first, mask, y);
  };
  auto requantise = [&](int o0, int32_t (&y)[MR][NR][8]) {  // the table covers every lane
    for (int m = 0; m < MR; ++m) {
      const Requant8 rq(s, o0 + 8 * m, p.out_min, p.out_max);
      for (int n = 0; n < NR; ++n) {
        __m256i* at = reinterpret_cast<__m256i*>(y[m][n]);
        _mm256_store_si256(at, rq(_mm256_load_si256(at)));
      }
    }
  };
  simd::run_conv_q_threads<MR, NR, 8, simd::PanelLayout::kPixelMajor>(p, in, 0x00, s, out, accumulate, requantise);
}

}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  if (conv2d_q_wide(p))
    conv<1, kConvQWidePixels>(p, in, weights, bias, requant, out, scratch);
  else
    conv<2, kConvQPixels>(p, in, weights, bias, requant, out, scratch);
}

}  // namespace avx2
}  // namespace capsrt
