// AVX2 int8 convolution; must match ref::conv2d_q bit for bit (the sums are exact, and the
// requantisation is the shared scalar one).
//
// Blocking as the AVX-512 VNNI kernel (x86_avx512_vnni/conv2d_q.cpp), with 2 vectors of 8 output
// channels x 4 pixels = 8 ymm accumulators. Per group of 4 k: vpmaddubsw multiplies a pixel's 4
// inputs (broadcast, as unsigned bytes) by 8 channels' 4 weights into int16 pair sums, vpmaddwd
// by ones adds the pairs into int32. vpmaddubsw saturates its int16 pair sums: a ReLU's output
// (0..127) times weights in [-127, 127] stays below 2 x 127 x 127 = 32,258; any other input goes
// in as |x| with the weight's sign flipped where x < 0 (vpsignb), and |x| <= 128 keeps the pair
// sums below 2 x 128 x 127 = 32,512. Neither ever saturates.
#include <immintrin.h>

#include "simd/conv2d_q_pack.h"
#include "x86_avx2/avx2.h"

namespace capsrt {
namespace avx2 {

namespace {
constexpr int MR = kConvQVectors, NR = kConvQPixels;

template <bool kSigned>
void tile(const int8_t* weights, const uint8_t* panel, int O, int o0, int groups, const __m256i* mask,
          __m256i (&acc)[MR][NR]) {
  const __m256i ones = _mm256_set1_epi16(1);
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n) acc[m][n] = _mm256_setzero_si256();
  const int8_t* wg = weights + static_cast<size_t>(o0) * 4;
  const uint8_t* xg = panel;
  for (int q = 0; q < groups; ++q, wg += static_cast<size_t>(O) * 4, xg += NR * 4) {
    __m256i w[MR];
    for (int m = 0; m < MR; ++m)
      w[m] = _mm256_maskload_epi32(reinterpret_cast<const int*>(wg + 32 * m), mask[m]);
    for (int n = 0; n < NR; ++n) {
      int32_t word;
      __builtin_memcpy(&word, xg + 4 * n, 4);
      const __m256i b = _mm256_set1_epi32(word);
      const __m256i x = kSigned ? _mm256_abs_epi8(b) : b;
      for (int m = 0; m < MR; ++m) {
        const __m256i wm = kSigned ? _mm256_sign_epi8(w[m], b) : w[m];
        const __m256i pairs = _mm256_maddubs_epi16(x, wm);
        acc[m][n] = _mm256_add_epi32(acc[m][n], _mm256_madd_epi16(pairs, ones));
      }
    }
  }
}
}  // namespace

void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const Conv2DParams& g = p.geom;
  const int O = g.out_channels, groups = simd::conv_q_groups(g);
  const int pixels = g.out_height * g.out_width;
  uint8_t* panel = static_cast<uint8_t*>(scratch);
  for (int n0 = 0; n0 < pixels; n0 += NR) {
    simd::pack_conv_q_panel(p, in, n0, NR, 0x00, panel);
    const int nr = pixels - n0 < NR ? pixels - n0 : NR;
    for (int o0 = 0; o0 < O; o0 += 8 * MR) {
      __m256i mask[MR];  // lanes (channels) past O are not loaded
      for (int m = 0; m < MR; ++m) {
        const int left = O - (o0 + 8 * m);
        mask[m] = _mm256_cmpgt_epi32(_mm256_set1_epi32(left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      }
      __m256i acc[MR][NR];
      if (p.input_nonneg)
        tile<false>(weights, panel, O, o0, groups, mask, acc);
      else
        tile<true>(weights, panel, O, o0, groups, mask, acc);
      // All accumulators out first, with constant indices (keeps them in registers above).
      alignas(32) int32_t tile[MR][NR][8];
      for (int m = 0; m < MR; ++m)
        for (int n = 0; n < NR; ++n) _mm256_store_si256(reinterpret_cast<__m256i*>(tile[m][n]), acc[m][n]);
      simd::store_conv_q_tile(p, requant, bias, tile, o0, n0, nr, out);
    }
  }
}

}  // namespace avx2
}  // namespace capsrt
