// AVX-512 int8 primary squash: fx::squash_vector_q on 8 capsules at a time, one per 64-bit lane;
// must match ref::primary_squash_q bit for bit. The two divisions and the square root are done in
// double precision and made exact by integer steps: simd/primary_squash_q_block.h says why each
// is exact. The components then take fx::squash_vector_q's own integer steps (vpmuldq, vpsraq).
// The capsules go through a component-major block (simd::load_capsule_block), so every grouping
// takes this path.
#include <immintrin.h>

#include <cmath>

#include "simd/primary_squash_q_block.h"
#include "x86_avx512_vnni/avx512_vnni.h"
#include "x86_avx512_vnni/fixed_point_avx512.h"

namespace capsrt {
namespace avx512_vnni {

namespace {

// fx::squash_factor of 8 squared lengths n (< 2^37; a zero one gives fac 0): k and fac in
// 64-bit lanes.
struct Factors {
  const fx::SquashQ& sq;
  const __m512i one = _mm512_set1_epi64(1), eps = _mm512_set1_epi64(static_cast<int64_t>(sq.eps_q32));
  const __m512d four_f = _mm512_set1_pd(std::ldexp(1.0, 2 * sq.in_frac));
  const __m512d ratio_num = _mm512_set1_pd(std::ldexp(1.0, 2 * sq.in_frac + 31));
  const __m512d eps_bound = _mm512_set1_pd(static_cast<double>((sq.eps_q32 >> 32) + 1));

  explicit Factors(const fx::SquashQ& p) : sq(p) {}

  void operator()(__m512i n, __m512i& k, __m512i& fac) const {
    const __m512d nd = _mm512_cvtepi64_pd(n);
    // ratio = 2^31 - floor(2^(2F+31) / (n + 4^F)), Q31.
    const __m512d ratio = _mm512_sub_pd(_mm512_set1_pd(2147483648.0), exact_floor_div(ratio_num, _mm512_add_pd(nd, four_f)));
    // k = (62 - bits) / 2, bits the bit length of the bound (n, at least 1, or n + eps_hi + 1):
    // its double's exponent e plus one.
    const __m512i n1 = _mm512_max_epu64(n, one);
    const __m512d bound = sq.eps_in_sqrt ? _mm512_add_pd(nd, eps_bound) : _mm512_cvtepi64_pd(n1);
    const __m512i e = _mm512_sub_epi64(_mm512_srli_epi64(_mm512_castpd_si512(bound), 52), _mm512_set1_epi64(1023));
    k = _mm512_srli_epi64(_mm512_sub_epi64(_mm512_set1_epi64(61), e), 1);
    const __m512i k2 = _mm512_add_epi64(k, k);
    __m512i x = _mm512_sllv_epi64(n1, k2);
    if (sq.eps_in_sqrt)  // + eps_q32 2^(2k-32): one of the two shifts has a count past 63 and gives 0
      x = _mm512_add_epi64(x, _mm512_or_si512(_mm512_sllv_epi64(eps, _mm512_sub_epi64(k2, _mm512_set1_epi64(32))),
                                              _mm512_srlv_epi64(eps, _mm512_sub_epi64(_mm512_set1_epi64(32), k2))));
    // D_k = isqrt64(x): the double root, then one step down or up.
    __m512i r = _mm512_cvttpd_epi64(_mm512_sqrt_pd(_mm512_cvtepi64_pd(x)));
    r = _mm512_mask_sub_epi64(r, _mm512_cmpgt_epi64_mask(_mm512_mul_epu32(r, r), x), r, one);
    const __m512i r1 = _mm512_add_epi64(r, one);
    r = _mm512_mask_add_epi64(r, _mm512_cmple_epi64_mask(_mm512_mul_epu32(r1, r1), x), r, one);
    if (!sq.eps_in_sqrt)  // + shift_round(eps_q32, 32 - k)
      r = _mm512_add_epi64(r, _mm512_srlv_epi64(_mm512_add_epi64(eps, _mm512_sllv_epi64(one, _mm512_sub_epi64(_mm512_set1_epi64(31), k))),
                                                _mm512_sub_epi64(_mm512_set1_epi64(32), k)));
    // fac = floor(ratio 2^30 / D_k) < 2^31.
    fac = _mm512_cvttpd_epi64(exact_floor_div(_mm512_mul_pd(ratio, _mm512_set1_pd(1073741824.0)), _mm512_cvtepi64_pd(r)));
  }
};

}  // namespace

void squash_factors_q(const fx::SquashQ& sq, const uint64_t* n, int count, int32_t* k, int64_t* fac) {
  if (simd::squash_factors_by_reference(sq, n, count, k, fac)) return;
  const Factors factors(sq);
  for (int i = 0; i < count; i += 8) {
    const __mmask8 lanes = count - i >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << (count - i)) - 1);
    __m512i kv, facv;
    factors(_mm512_maskz_loadu_epi64(lanes, n + i), kv, facv);
    _mm256_mask_storeu_epi32(k + i, lanes, _mm512_cvtepi64_epi32(kv));
    _mm512_mask_storeu_epi64(fac + i, lanes, facv);
  }
}

void primary_squash_q(const PrimarySquashQParams& p, const int16_t* conv_out, int8_t* capsules) {
  if (!simd::squash_factor_in_doubles(p.squash)) {
    ref::primary_squash_q(p, conv_out, capsules);
    return;
  }
  constexpr int W = 8;
  const int dim = p.group.dim, G = p.squash.out_frac;
  alignas(64) int16_t in[64 * W];  // dim <= 64 (op_infer)
  alignas(64) int8_t out[64 * W];
  const Factors factors(p.squash);
  const __m512i round_g = _mm512_set1_epi64(int64_t{1} << (60 - G));
  const __m512i lim = _mm512_set1_epi64(127), neg_lim = _mm512_set1_epi64(-127);
  auto component = [&](int d) { return _mm512_cvtepi16_epi64(_mm_load_si128(reinterpret_cast<const __m128i*>(in + d * W))); };
  for (int first = 0; first < p.count; first += W) {
    simd::load_capsule_block<W>(p, conv_out, first, in);
    __m512i n = _mm512_setzero_si512();  // < 2^37
    for (int d = 0; d < dim; ++d) {
      const __m512i s = component(d);
      n = _mm512_add_epi64(n, _mm512_mul_epi32(s, s));
    }
    __m512i k, fac;
    factors(n, k, fac);
    // v_d = clamp(shift_round((s_d 2^k) fac, 61 - G), -127, 127).
    for (int d = 0; d < dim; ++d) {
      const __m512i t = _mm512_sllv_epi64(component(d), k);  // |t| < 2^31
      const __m512i v = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(t, fac), round_g), static_cast<unsigned>(61 - G));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + d * W),
                       _mm512_cvtepi64_epi8(_mm512_max_epi64(_mm512_min_epi64(v, lim), neg_lim)));
    }
    simd::store_capsule_block<W>(p, out, first, capsules);
  }
}

}  // namespace avx512_vnni
}  // namespace capsrt
