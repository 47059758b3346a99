// The int8 path's fixed-point steps on AVX-512 lanes, written once for the AVX-512 VNNI kernels
// (conv2d_q.cpp, caps_dense_q.cpp): each is fixed_point.h's scalar step, giving the same
// integers. AVX-512 has the 64-bit arithmetic shifts and min/max; products with 32-bit factors
// use vpmuldq / vpmuludq (one operation) rather than vpmullq. Compiled with this ISA's flags only
// (the files that include it).
#ifndef CAPSRT_KERNELS_X86_AVX512_VNNI_FIXED_POINT_AVX512_H
#define CAPSRT_KERNELS_X86_AVX512_VNNI_FIXED_POINT_AVX512_H

#include <immintrin.h>

#include "fixed_point_exp2.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx512_vnni {

// floor(a / b) of exact doubles whose quotient is below 2^53 (the primary squash, the softmax's
// reciprocal): the rounded quotient's floor, less one where it times b passes a. Exact
// (kernels/simd/primary_squash_q_block.h says why): the floor of a correctly rounded quotient is
// the true floor or one more, and the FMA gives floor(q) b - a exactly, an integer of magnitude
// <= b < 2^53.
inline __m512d exact_floor_div(__m512d a, __m512d b) {
  const __m512d q = _mm512_roundscale_pd(_mm512_div_pd(a, b), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  const __mmask8 over = _mm512_cmp_pd_mask(_mm512_fmsub_pd(q, b, a), _mm512_setzero_pd(), _CMP_GT_OQ);
  return _mm512_mask_sub_pd(q, over, q, _mm512_set1_pd(1.0));
}

// fx::shift_round on 64-bit lanes, one shift in [0, 62].
inline __m512i shift_round64(__m512i x, int shift) {
  if (shift == 0) return x;
  return _mm512_sra_epi64(_mm512_add_epi64(x, _mm512_set1_epi64(int64_t{1} << (shift - 1))),
                          _mm_cvtsi32_si128(shift));
}

// fx::clamp on 64-bit lanes.
inline __m512i clamp64(__m512i x, __m512i lo, __m512i hi) { return _mm512_max_epi64(_mm512_min_epi64(x, hi), lo); }

// 16 int32 lanes from the even-lane and odd-lane int64 results (each holds an int32 value).
inline __m512i interleave32(__m512i even, __m512i odd) {
  return _mm512_mask_blend_epi32(static_cast<__mmask16>(0xAAAA), even, _mm512_slli_epi64(odd, 32));
}

// clamp(fx::requantize(acc, mult, shift), -32767, 32767) on 16 lanes, one multiplier and shift.
inline __m512i requantize16(__m512i acc, int32_t mult, int32_t shift) {
  const __m512i m = _mm512_set1_epi64(mult);
  const __m512i lim = _mm512_set1_epi64(32767), neg_lim = _mm512_set1_epi64(-32767);
  const __m512i even = shift_round64(_mm512_mul_epi32(acc, m), shift);
  const __m512i odd = shift_round64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m), shift);
  return interleave32(clamp64(even, neg_lim, lim), clamp64(odd, neg_lim, lim));
}

// fx::clamp32(fx::requantize(acc + offset, mult, shift), lo, hi) on 16 channels, each with its
// own multiplier and shift: the products in 64-bit lanes, even and odd channels apart (shift >= 1,
// so 2^(shift-1) is the rounding term).
struct Requant16 {
  __m512i offset, mult_even, mult_odd, shift_even, shift_odd, round_even, round_odd, lo, hi;
  Requant16(const simd::ConvQScratch& s, int o, int32_t out_min, int32_t out_max) {
    const __m512i low = _mm512_set1_epi64(0xFFFFFFFF), one = _mm512_set1_epi64(1);
    const __m512i mult = _mm512_loadu_si512(s.mult + o), shift = _mm512_loadu_si512(s.shift + o);
    offset = _mm512_loadu_si512(s.offset + o);
    mult_even = mult;
    mult_odd = _mm512_srli_epi64(mult, 32);
    shift_even = _mm512_and_si512(shift, low);
    shift_odd = _mm512_srli_epi64(shift, 32);
    round_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(shift_even, one));
    round_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(shift_odd, one));
    lo = _mm512_set1_epi64(out_min);
    hi = _mm512_set1_epi64(out_max);
  }
  __m512i operator()(__m512i sum) const {
    const __m512i acc = _mm512_add_epi32(sum, offset);  // modulo 2^32: the true sum fits
    __m512i even = _mm512_mul_epi32(acc, mult_even);
    __m512i odd = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), mult_odd);
    even = _mm512_srav_epi64(_mm512_add_epi64(even, round_even), shift_even);
    odd = _mm512_srav_epi64(_mm512_add_epi64(odd, round_odd), shift_odd);
    return interleave32(clamp64(even, lo, hi), clamp64(odd, lo, hi));
  }
};

// fx::exp_neg_q30(x) on 8 lanes, given -x (0 <= -x < 2^32, x the Q16 logit difference) as the
// unsigned low word of each 64-bit lane (the high word is not read: only vpmuludq reads -x).
// Every product has 32-bit factors, so vpmuludq / vpmuldq form it: -x and the constant; then p
// (below the sum of the |a|, < 2^31) and t (< 2^30).
inline __m512i exp_neg_q30(__m512i neg_x) {
  const __m512i prod = _mm512_mul_epu32(neg_x, _mm512_set1_epi64(fx::kLog2eQ30));
  const __m512i z = _mm512_srli_epi64(_mm512_add_epi64(prod, _mm512_set1_epi64(int64_t{1} << 29)), 30);
  const __m512i k = _mm512_srli_epi64(z, 16);
  const __m512i t = _mm512_slli_epi64(_mm512_and_si512(z, _mm512_set1_epi64(0xFFFF)), 14);
  // Horner in Q30, each step shift_round(p t, 30) + a = (p t + 2^29 + a 2^30) >> 30 in one
  // add and one shift (a 2^30 is a multiple of 2^30, so it passes the floor unchanged; the sum
  // stays below 2^62 in magnitude).
  const int32_t* a = fx::kExp2Q30;
  const auto step = [&t](__m512i p, int64_t a_n) {
    const __m512i add = _mm512_set1_epi64((int64_t{1} << 29) + a_n * (int64_t{1} << 30));
    return _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(p, t), add), 30);
  };
  __m512i p = _mm512_set1_epi64(a[5]);
  for (int n = 4; n >= 0; --n) p = step(p, a[n]);
  p = step(p, int64_t{1} << 30);  // 2^30 + shift_round(p t, 30): 2^-t in Q30, in (2^29, 2^30]
  // shift_round(p, k) = (p + 2^(k-1)) >> k = ((2p >> k) + 1) >> 1 for k >= 1, and p for k = 0
  // ((2p + 1) >> 1); 0 from k >= 31 on (the lanes the mask clears: (0 + 1) >> 1 = 0).
  const __m512i q = _mm512_maskz_srlv_epi64(_mm512_cmplt_epu64_mask(k, _mm512_set1_epi64(31)), _mm512_add_epi64(p, p), k);
  return _mm512_srli_epi64(_mm512_add_epi64(q, _mm512_set1_epi64(1)), 1);
}

}  // namespace avx512_vnni
}  // namespace capsrt

#endif
