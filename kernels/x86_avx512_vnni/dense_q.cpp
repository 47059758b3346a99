// AVX-512 VNNI int8 dense (the decoder's layers); must match ref::dense_q bit for bit: the sums
// are exact int32 (the validator bounds them), the epilogue is the reference's (dense_q_output).
//
// Blocking: 64 outputs at a time (4 vectors of 16, masked past O), the reduction one K4O group
// of 4 inputs at a time: 4 weight vectors (16 outputs x 4 bytes each, contiguous in K4O), one
// broadcast of the group's 4 inputs, 4 vpdpbusd into 4 independent accumulators. vpdpbusd
// multiplies unsigned by signed bytes: the input goes in as x + 128, and 128 x sum_k w[o][k] is
// taken off (vpdpbusd against bytes of 1; the sums wrap modulo 2^32 and the difference is the
// true sum). The last group's bytes past K are 0 in both, so the K4O padding (whatever it holds)
// adds nothing.
#include <immintrin.h>

#include <cstring>

#include "reference.h"
#include "x86_avx512_vnni/avx512_vnni.h"

namespace capsrt {
namespace avx512_vnni {

namespace {

__mmask16 lanes_left(int left) {
  return left >= 16 ? static_cast<__mmask16>(0xFFFF)
                    : left <= 0 ? static_cast<__mmask16>(0) : static_cast<__mmask16>((1u << left) - 1);
}

}  // namespace

void dense_q(const DenseQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
             const int32_t* requant, int8_t* out) {
  const int K = p.in_features, O = p.out_features, groups = (K + 3) / 4;
  // The last group's word: x + 128 for its real inputs, 0 past K (so the padding's weights,
  // whatever they hold, add nothing).
  const int last = K - 4 * (groups - 1);  // 1..4 real inputs in the last group
  uint8_t tail[4] = {0, 0, 0, 0};
  for (int r = 0; r < last; ++r) tail[r] = static_cast<uint8_t>(in[4 * (groups - 1) + r] ^ 0x80);
  int32_t tail_word;
  std::memcpy(&tail_word, tail, 4);
  const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u)), ones = _mm512_set1_epi8(1);
  // The last group's ones: real inputs only (the padding's weights must count for nothing).
  const __m512i last_ones = _mm512_set1_epi32(static_cast<int32_t>(0x01010101u >> (8 * (4 - last))));
  for (int o0 = 0; o0 < O; o0 += 64) {
    __mmask16 mask[4];
    __m512i acc[4], corr[4];
    for (int m = 0; m < 4; ++m) {
      mask[m] = lanes_left(O - (o0 + 16 * m));
      acc[m] = _mm512_setzero_si512();
      corr[m] = _mm512_setzero_si512();
    }
    const int8_t* wg = weights + static_cast<size_t>(o0) * 4;
    for (int q = 0; q < groups; ++q, wg += static_cast<size_t>(O) * 4) {
      int32_t word;
      if (q + 1 < groups) {
        std::memcpy(&word, in + 4 * q, 4);
      } else {
        word = tail_word;
      }
      const __m512i x = q + 1 < groups ? _mm512_xor_si512(_mm512_set1_epi32(word), flip) : _mm512_set1_epi32(word);
      const __m512i one = q + 1 < groups ? ones : last_ones;
      for (int m = 0; m < 4; ++m) {
        const __m512i w = _mm512_maskz_loadu_epi32(mask[m], wg + 64 * m);
        acc[m] = _mm512_dpbusd_epi32(acc[m], x, w);
        corr[m] = _mm512_dpbusd_epi32(corr[m], one, w);
      }
    }
    alignas(64) int32_t sums[64];
    for (int m = 0; m < 4; ++m)
      _mm512_store_si512(sums + 16 * m, _mm512_sub_epi32(acc[m], _mm512_slli_epi32(corr[m], 7)));
    for (int o = o0; o < O && o < o0 + 64; ++o) {
      out[o] = dense_q_output(p, bias[o] + sums[o - o0], requant[2 * o], requant[2 * o + 1]);
    }
  }
}

}  // namespace avx512_vnni
}  // namespace capsrt
