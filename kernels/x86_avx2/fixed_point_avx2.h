// The int8 path's fixed-point steps on AVX2 lanes, written once for the AVX2 kernels (conv2d_q.cpp,
// caps_dense_q.cpp): each is fixed_point.h's scalar step, giving the same integers. AVX2 has no
// 64-bit arithmetic shift, min/max or low multiply: shifts are logical shifts of x or ~x, clamps
// are compares and blends, and every 64-bit product here has factors that fit 32 bits (vpmuldq,
// vpmuludq). Compiled with this ISA's flags only (the files that include it).
#ifndef CAPSRT_KERNELS_X86_AVX2_FIXED_POINT_AVX2_H
#define CAPSRT_KERNELS_X86_AVX2_FIXED_POINT_AVX2_H

#include <immintrin.h>

#include "fixed_point_exp2.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx2 {

// Integer steps in double precision (the primary squash, the softmax's reciprocal): an integer in
// [0, 2^52) as a double and back, through the double 2^52, whose mantissa is the integer (AVX2
// has no conversion between int64 and double). 2^52 comes from a function: a static vector would
// be made at start-up, on any CPU.
inline __m256d two52() { return _mm256_set1_pd(4503599627370496.0); }
inline __m256d to_double(__m256i x) {
  return _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(x, _mm256_castpd_si256(two52()))), two52());
}
inline __m256i to_int(__m256d x) {
  return _mm256_sub_epi64(_mm256_castpd_si256(_mm256_add_pd(x, two52())), _mm256_castpd_si256(two52()));
}

// floor(a / b) of exact doubles whose quotient is below 2^53: the rounded quotient's floor, less
// one where it times b passes a. Exact (kernels/simd/primary_squash_q_block.h says why): the
// floor of a correctly rounded quotient is the true floor or one more, and the FMA gives
// floor(q) b - a exactly, an integer of magnitude <= b < 2^53.
inline __m256d exact_floor_div(__m256d a, __m256d b) {
  const __m256d q = _mm256_floor_pd(_mm256_div_pd(a, b));
  const __m256d over = _mm256_cmp_pd(_mm256_fmsub_pd(q, b, a), _mm256_setzero_pd(), _CMP_GT_OQ);
  return _mm256_sub_pd(q, _mm256_and_pd(over, _mm256_set1_pd(1.0)));
}

// x >> s (arithmetic) on 64-bit lanes, counts per lane in [0, 63]: a logical shift of x, or of
// ~x for negative x.
inline __m256i sra64(__m256i x, __m256i s) {
  const __m256i negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
  return _mm256_xor_si256(_mm256_srlv_epi64(_mm256_xor_si256(x, negative), s), negative);
}

// fx::shift_round on 64-bit lanes, one shift in [0, 62].
inline __m256i shift_round64(__m256i x, int shift) {
  if (shift == 0) return x;
  return sra64(_mm256_add_epi64(x, _mm256_set1_epi64x(int64_t{1} << (shift - 1))), _mm256_set1_epi64x(shift));
}

// fx::clamp on 64-bit lanes.
inline __m256i clamp64(__m256i x, __m256i lo, __m256i hi) {
  x = _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
  return _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
}

// 8 int32 lanes from the even-lane and odd-lane int64 results (each holds an int32 value).
inline __m256i interleave32(__m256i even, __m256i odd) {
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// fx::clamp32(fx::requantize(acc + offset, mult, shift), lo, hi) on 8 channels: the products in
// 64-bit lanes, even and odd channels apart (shift >= 1, so 2^(shift-1) is the rounding term).
struct Requant8 {
  __m256i offset, mult_even, mult_odd, shift_even, shift_odd, round_even, round_odd, lo, hi;
  Requant8(const simd::ConvQScratch& s, int o, int32_t out_min, int32_t out_max) {
    const __m256i low = _mm256_set1_epi64x(0xFFFFFFFF), one = _mm256_set1_epi64x(1);
    const __m256i mult = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.mult + o));
    const __m256i shift = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.shift + o));
    offset = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.offset + o));
    mult_even = mult;
    mult_odd = _mm256_srli_epi64(mult, 32);
    shift_even = _mm256_and_si256(shift, low);
    shift_odd = _mm256_srli_epi64(shift, 32);
    round_even = _mm256_sllv_epi64(one, _mm256_sub_epi64(shift_even, one));
    round_odd = _mm256_sllv_epi64(one, _mm256_sub_epi64(shift_odd, one));
    lo = _mm256_set1_epi64x(out_min);
    hi = _mm256_set1_epi64x(out_max);
  }
  __m256i operator()(__m256i sum) const {
    const __m256i acc = _mm256_add_epi32(sum, offset);
    __m256i even = _mm256_mul_epi32(acc, mult_even);
    __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mult_odd);
    even = clamp64(sra64(_mm256_add_epi64(even, round_even), shift_even), lo, hi);
    odd = clamp64(sra64(_mm256_add_epi64(odd, round_odd), shift_odd), lo, hi);
    return interleave32(even, odd);
  }
};

// fx::exp_neg_q30(x) on 4 lanes, given -x (0 <= -x < 2^32, x the Q16 logit difference) as the
// unsigned low word of each 64-bit lane (the high word is not read: only vpmuludq reads -x).
inline __m256i exp_neg_q30(__m256i neg_x) {
  // z = shift_round(-x log2(e) in Q30, 30): -x and the constant fit 32 bits unsigned.
  const __m256i prod = _mm256_mul_epu32(neg_x, _mm256_set1_epi64x(fx::kLog2eQ30));
  const __m256i z = _mm256_srli_epi64(_mm256_add_epi64(prod, _mm256_set1_epi64x(int64_t{1} << 29)), 30);
  const __m256i k = _mm256_srli_epi64(z, 16);
  const __m256i t = _mm256_slli_epi64(_mm256_and_si256(z, _mm256_set1_epi64x(0xFFFF)), 14);  // < 2^30
  const int32_t* a = fx::kExp2Q30;
  // Horner in Q30: |p| stays below the sum of the |a|, < 2^31, so p and t are int32 factors,
  // and vpmuldq reads only p's low 32 bits. Those bits of (p t + 2^29) >> 30 are the same for a
  // logical and an arithmetic shift, so the shift is logical and the high half left as it falls.
  // Each step, shift_round(p t, 30) + a, is (p t + 2^29 + a 2^30) >> 30 in one add and one
  // shift (a 2^30 is a multiple of 2^30, so it passes the floor unchanged; |sum| < 2^62).
  const auto step = [&t](__m256i p, int64_t a_n) {
    const __m256i add = _mm256_set1_epi64x((int64_t{1} << 29) + a_n * (int64_t{1} << 30));
    return _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(p, t), add), 30);
  };
  __m256i p = _mm256_set1_epi64x(a[5]);
  for (int n = 4; n >= 0; --n) p = step(p, a[n]);
  p = step(p, int64_t{1} << 30);  // 2^30 + shift_round(p t, 30): 2^-t in Q30
  p = _mm256_and_si256(p, _mm256_set1_epi64x(0xFFFFFFFF));  // in (2^29, 2^30]: its low half
  // shift_round(p, k), k per lane: (p + 2^(k-1)) >> k (p > 0), and 0 from k >= 31 on. For
  // k = 0 the count k - 1 is 2^64 - 1, so vpsllvq gives 0.
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i r = _mm256_srlv_epi64(_mm256_add_epi64(p, _mm256_sllv_epi64(one, _mm256_sub_epi64(k, one))), k);
  return _mm256_and_si256(r, _mm256_cmpgt_epi64(_mm256_set1_epi64x(31), k));
}

}  // namespace avx2
}  // namespace capsrt

#endif
