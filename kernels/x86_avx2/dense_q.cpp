// AVX2 int8 dense (the decoder's layers); must match ref::dense_q bit for bit: the sums are exact
// int32 (the validator bounds them), the epilogue is the reference's (dense_q_output).
//
// Blocking: 32 outputs at a time (4 vectors of 8, masked past O), the reduction one K4O group of
// 4 inputs at a time: 4 weight vectors (8 outputs x 4 bytes each, contiguous in K4O), one
// broadcast of the group's 4 inputs. vpmaddubsw multiplies unsigned by signed bytes and
// saturates its pair sums, so each product goes in as |x| times w with x's sign (vpabsb,
// vpsignb: |x| <= 128, a pair at most 2 x 128 x 127 < 2^15, exact), then vpmaddwd against 1
// widens the pairs to int32. The last group's inputs past K are 0, so the K4O padding
// (whatever it holds) adds nothing.
#include <immintrin.h>

#include <cstring>

#include "reference.h"
#include "x86_avx2/avx2.h"

namespace capsrt {
namespace avx2 {

void dense_q(const DenseQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
             const int32_t* requant, int8_t* out) {
  const int K = p.in_features, O = p.out_features, groups = (K + 3) / 4;
  const int last = K - 4 * (groups - 1);  // 1..4 real inputs in the last group
  int8_t tail[4] = {0, 0, 0, 0};
  for (int r = 0; r < last; ++r) tail[r] = in[4 * (groups - 1) + r];
  const __m256i ones16 = _mm256_set1_epi16(1), lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int o0 = 0; o0 < O; o0 += 32) {
    __m256i mask[4], acc[4];
    for (int m = 0; m < 4; ++m) {
      mask[m] = _mm256_cmpgt_epi32(_mm256_set1_epi32(O - (o0 + 8 * m)), lane);
      acc[m] = _mm256_setzero_si256();
    }
    const int8_t* wg = weights + static_cast<size_t>(o0) * 4;
    for (int q = 0; q < groups; ++q, wg += static_cast<size_t>(O) * 4) {
      int32_t word;
      std::memcpy(&word, q + 1 < groups ? static_cast<const void*>(in + 4 * q) : static_cast<const void*>(tail), 4);
      const __m256i x = _mm256_set1_epi32(word), ax = _mm256_abs_epi8(x);
      for (int m = 0; m < 4; ++m) {
        const __m256i w = _mm256_maskload_epi32(reinterpret_cast<const int*>(wg + 32 * m), mask[m]);
        const __m256i pairs = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w, x));
        acc[m] = _mm256_add_epi32(acc[m], _mm256_madd_epi16(pairs, ones16));
      }
    }
    alignas(32) int32_t sums[32];
    for (int m = 0; m < 4; ++m) _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 8 * m), acc[m]);
    for (int o = o0; o < O && o < o0 + 32; ++o) {
      out[o] = dense_q_output(p, bias[o] + sums[o - o0], requant[2 * o], requant[2 * o + 1]);
    }
  }
}

}  // namespace avx2
}  // namespace capsrt
