// AVX2 int8 primary squash: fx::squash_vector_q on 4 capsules at a time, one per 64-bit lane;
// must match ref::primary_squash_q bit for bit. The two divisions and the square root are done in
// double precision and made exact by integer steps: simd/primary_squash_q_block.h says why each
// is exact. AVX2 has no conversion between int64 and double: the integers below 2^52 convert
// exactly through the double 2^52 (fixed_point_avx2.h), and the square root's argument (up to
// 2^62) through its two 32-bit halves. It has no 64-bit arithmetic shift either: the
// components' final shift (46 or more) takes the high word of each product, as
// fx::squash_component does.
#include <immintrin.h>

#include <cmath>
#include <cstring>

#include "simd/primary_squash_q_block.h"
#include "x86_avx2/avx2.h"
#include "x86_avx2/fixed_point_avx2.h"

namespace capsrt {
namespace avx2 {

namespace {

// fx::squash_factor of 4 squared lengths n (< 2^37; a zero one gives fac 0): k and fac in
// 64-bit lanes.
struct Factors {
  const fx::SquashQ& sq;
  const __m256i one = _mm256_set1_epi64x(1), eps = _mm256_set1_epi64x(static_cast<int64_t>(sq.eps_q32));
  const __m256d four_f = _mm256_set1_pd(std::ldexp(1.0, 2 * sq.in_frac));
  const __m256d ratio_num = _mm256_set1_pd(std::ldexp(1.0, 2 * sq.in_frac + 31));
  const __m256d eps_bound = _mm256_set1_pd(static_cast<double>((sq.eps_q32 >> 32) + 1));

  explicit Factors(const fx::SquashQ& p) : sq(p) {}

  void operator()(__m256i n, __m256i& k, __m256i& fac) const {
    const __m256d nd = to_double(n);
    // ratio = 2^31 - floor(2^(2F+31) / (n + 4^F)), Q31.
    const __m256d ratio = _mm256_sub_pd(_mm256_set1_pd(2147483648.0), exact_floor_div(ratio_num, _mm256_add_pd(nd, four_f)));
    // k = (62 - bits) / 2, bits the bit length of the bound (n, at least 1, or n + eps_hi + 1):
    // its double's exponent e plus one.
    const __m256i n1 = _mm256_or_si256(n, _mm256_and_si256(_mm256_cmpeq_epi64(n, _mm256_setzero_si256()), one));
    const __m256d bound = sq.eps_in_sqrt ? _mm256_add_pd(nd, eps_bound) : to_double(n1);
    const __m256i e = _mm256_sub_epi64(_mm256_srli_epi64(_mm256_castpd_si256(bound), 52), _mm256_set1_epi64x(1023));
    k = _mm256_srli_epi64(_mm256_sub_epi64(_mm256_set1_epi64x(61), e), 1);
    const __m256i k2 = _mm256_add_epi64(k, k);
    __m256i x = _mm256_sllv_epi64(n1, k2);
    if (sq.eps_in_sqrt)  // + eps_q32 2^(2k-32): one of the two shifts has a count past 63 and gives 0
      x = _mm256_add_epi64(x, _mm256_or_si256(_mm256_sllv_epi64(eps, _mm256_sub_epi64(k2, _mm256_set1_epi64x(32))),
                                              _mm256_srlv_epi64(eps, _mm256_sub_epi64(_mm256_set1_epi64x(32), k2))));
    // D_k = isqrt64(x): the double root of x's nearest double (from its 32-bit halves), then one
    // step down or up (a compare gives -1 where it holds).
    const __m256d xd = _mm256_fmadd_pd(to_double(_mm256_srli_epi64(x, 32)), _mm256_set1_pd(4294967296.0),
                                       to_double(_mm256_and_si256(x, _mm256_set1_epi64x(0xFFFFFFFF))));
    __m256i r = to_int(_mm256_floor_pd(_mm256_sqrt_pd(xd)));
    r = _mm256_add_epi64(r, _mm256_cmpgt_epi64(_mm256_mul_epu32(r, r), x));
    const __m256i r1 = _mm256_add_epi64(r, one);
    r = _mm256_add_epi64(r1, _mm256_cmpgt_epi64(_mm256_mul_epu32(r1, r1), x));
    if (!sq.eps_in_sqrt)  // + shift_round(eps_q32, 32 - k)
      r = _mm256_add_epi64(r, _mm256_srlv_epi64(_mm256_add_epi64(eps, _mm256_sllv_epi64(one, _mm256_sub_epi64(_mm256_set1_epi64x(31), k))),
                                                _mm256_sub_epi64(_mm256_set1_epi64x(32), k)));
    // fac = floor(ratio 2^30 / D_k) < 2^31.
    fac = to_int(exact_floor_div(_mm256_mul_pd(ratio, _mm256_set1_pd(1073741824.0)), to_double(r)));
  }
};

}  // namespace

void squash_factors_q(const fx::SquashQ& sq, const uint64_t* n, int count, int32_t* k, int64_t* fac) {
  if (simd::squash_factors_by_reference(sq, n, count, k, fac)) return;
  const Factors factors(sq);
  for (int i = 0; i < count; i += 4) {
    alignas(32) int64_t nv[4] = {0, 0, 0, 0}, kv[4], facv[4];
    for (int l = 0; l < 4 && i + l < count; ++l) nv[l] = static_cast<int64_t>(n[i + l]);
    __m256i kw, facw;
    factors(_mm256_load_si256(reinterpret_cast<const __m256i*>(nv)), kw, facw);
    _mm256_store_si256(reinterpret_cast<__m256i*>(kv), kw);
    _mm256_store_si256(reinterpret_cast<__m256i*>(facv), facw);
    for (int l = 0; l < 4 && i + l < count; ++l) {
      k[i + l] = static_cast<int32_t>(kv[l]);
      fac[i + l] = facv[l];
    }
  }
}

void primary_squash_q(const PrimarySquashQParams& p, const int16_t* conv_out, int8_t* capsules) {
  if (!simd::squash_factor_in_doubles(p.squash)) {
    ref::primary_squash_q(p, conv_out, capsules);
    return;
  }
  constexpr int W = 4;
  const int dim = p.group.dim, G = p.squash.out_frac;
  alignas(32) int16_t in[64 * W];  // dim <= 64 (op_infer)
  alignas(32) int8_t out[64 * W];
  const Factors factors(p.squash);
  // The rounding term 2^(28-G) in each lane's high word, 0 in its low word.
  const __m256i round_g = _mm256_set1_epi64x(int64_t{1} << (60 - G));
  const __m128i shift_g = _mm_cvtsi32_si128(29 - G);
  const __m256i lim = _mm256_set1_epi32(127), neg_lim = _mm256_set1_epi32(-127);
  const __m256i high_words = _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7);
  auto component = [&](int d) {
    int64_t four;
    std::memcpy(&four, in + d * W, sizeof four);
    return _mm256_cvtepi16_epi64(_mm_cvtsi64_si128(four));
  };
  for (int first = 0; first < p.count; first += W) {
    simd::load_capsule_block<W>(p, conv_out, first, in);
    __m256i n = _mm256_setzero_si256();  // < 2^37
    for (int d = 0; d < dim; ++d) {
      const __m256i s = component(d);
      n = _mm256_add_epi64(n, _mm256_mul_epi32(s, s));
    }
    __m256i k, fac;
    factors(n, k, fac);
    // v_d = clamp(shift_round((s_d 2^k) fac, 61 - G), -127, 127): (high word + 2^(28-G)) >> (29-G).
    for (int d = 0; d < dim; ++d) {
      const __m256i t = _mm256_sllv_epi64(component(d), k);  // |t| < 2^31
      __m256i v = _mm256_sra_epi32(_mm256_add_epi64(_mm256_mul_epi32(t, fac), round_g), shift_g);
      v = _mm256_max_epi32(_mm256_min_epi32(_mm256_permutevar8x32_epi32(v, high_words), lim), neg_lim);
      const __m128i bytes = _mm_packs_epi16(_mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_castsi256_si128(v)), _mm_setzero_si128());
      const int32_t packed = _mm_cvtsi128_si32(bytes);
      std::memcpy(out + d * W, &packed, sizeof packed);
    }
    simd::store_capsule_block<W>(p, out, first, capsules);
  }
}

}  // namespace avx2
}  // namespace capsrt
