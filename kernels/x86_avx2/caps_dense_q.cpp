// AVX2 int8 CapsDense (predictions and routing); must match ref::caps_dense_q bit for bit.
//
// Blocking as the AVX-512 VNNI kernel (x86_avx512_vnni/caps_dense_q.cpp), with 8 input capsules
// per vector: the predictions are computed once into scratch as u_hat[j][d][i] (int16, i
// fastest; W's CAPS_JDKI layout holds W[j][d][k][i] along i the same way, u is rearranged to
// int16 pairs u[k/2][i][k%2] first, for vpmaddwd), and each routing iteration walks the input capsules 8 at a time: the J logits
// of a block (b = u_hat . V in 64-bit lanes, even and odd lanes apart), their softmax over the
// classes lane by lane (fixed_point.h's exp in 64-bit lanes; the one division per lane in
// scalar), and each class's share of s_j (the products fit int32; their sums are kept in 64-bit
// lanes and added across once per iteration). The squash of the J sums is the shared scalar one.
// AVX2 has no 64-bit arithmetic shift, min/max or low multiply: shifts are logical shifts of x
// or ~x, clamps are compares and blends, and every 64-bit product here has factors that fit 32
// bits (vpmuldq, vpmuludq). Softmax over the inputs, low-memory routing and row-major W run the
// reference.
#include <immintrin.h>

#include "reference.h"
#include "simd/caps_dense_q_common.h"
#include "x86_avx2/avx2.h"

namespace capsrt {
namespace avx2 {

namespace {

// x >> s, arithmetic, on 64-bit lanes: a logical shift of x, or of ~x for negative x.
__m256i sra64(__m256i x, __m128i s) {
  const __m256i negative = _mm256_cmpgt_epi64(_mm256_setzero_si256(), x);
  return _mm256_xor_si256(_mm256_srl_epi64(_mm256_xor_si256(x, negative), s), negative);
}

// fx::shift_round on 64-bit lanes, shift in [0, 62].
__m256i shift_round64(__m256i x, int shift) {
  if (shift == 0) return x;
  return sra64(_mm256_add_epi64(x, _mm256_set1_epi64x(int64_t{1} << (shift - 1))), _mm_cvtsi32_si128(shift));
}

__m256i clamp64(__m256i x, __m256i lo, __m256i hi) {
  x = _mm256_blendv_epi8(x, hi, _mm256_cmpgt_epi64(x, hi));
  return _mm256_blendv_epi8(x, lo, _mm256_cmpgt_epi64(lo, x));
}

// 8 int32 lanes from the even-lane and odd-lane int64 results (each holds an int32 value).
__m256i interleave32(__m256i even, __m256i odd) {
  return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}

// fx::exp_neg_q30 on 4 lanes, given -x (0 <= -x < 2^32, x the Q16 logit difference).
__m256i exp_neg_q30(__m256i neg_x) {
  // z = shift_round(-x log2(e) in Q30, 30): -x and the constant fit 32 bits unsigned.
  const __m256i prod = _mm256_mul_epu32(neg_x, _mm256_set1_epi64x(1549082005));
  const __m256i z = _mm256_srli_epi64(_mm256_add_epi64(prod, _mm256_set1_epi64x(int64_t{1} << 29)), 30);
  const __m256i k = _mm256_srli_epi64(z, 16);
  const __m256i t = _mm256_slli_epi64(_mm256_and_si256(z, _mm256_set1_epi64x(0xFFFF)), 14);  // < 2^30
  static const int64_t a[6] = {-744261112, 257940808, -59591895, 10304881, -1387048, 123460};
  // Horner in Q30: |p| stays below the sum of the |a|, < 2^31, so p and t are int32 factors,
  // and vpmuldq reads only p's low 32 bits. Those bits of (p t + 2^29) >> 30 are the same for a
  // logical and an arithmetic shift, so the shift is logical and the high half left as it falls.
  const __m256i half = _mm256_set1_epi64x(int64_t{1} << 29);
  __m256i p = _mm256_set1_epi64x(a[5]);
  for (int n = 4; n >= 0; --n)
    p = _mm256_add_epi64(_mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(p, t), half), 30), _mm256_set1_epi64x(a[n]));
  p = _mm256_add_epi64(_mm256_set1_epi64x(int64_t{1} << 30),
                       _mm256_srli_epi64(_mm256_add_epi64(_mm256_mul_epi32(p, t), half), 30));
  p = _mm256_and_si256(p, _mm256_set1_epi64x(0xFFFFFFFF));  // in (2^29, 2^30]: its low half
  // shift_round(p, k), k per lane: (p + 2^(k-1)) >> k (p > 0), and 0 from k >= 31 on. For
  // k = 0 the count k - 1 is 2^64 - 1, so vpsllvq gives 0.
  const __m256i one = _mm256_set1_epi64x(1);
  const __m256i r = _mm256_srlv_epi64(_mm256_add_epi64(p, _mm256_sllv_epi64(one, _mm256_sub_epi64(k, one))), k);
  return _mm256_and_si256(r, _mm256_cmpgt_epi64(_mm256_set1_epi64x(31), k));
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  if (simd::caps_dense_q_uses_reference(p)) {
    ref::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, J = q.out_caps, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 8);
  const simd::CapsDenseQScratch s = simd::carve_caps_dense_q(p, 8, scratch);
  const int pairs = (DI + 1) / 2;
  simd::pair_inputs(p, u, Ip, s.u_pairs);
  // Predictions u_hat[j][d][i]: vpmaddwd adds W[j][d][k][i] u[i][k] + W[j][d][k+1][i] u[i][k+1]
  // per lane, the two W rows interleaved byte by byte and widened to int16 (exact). The tail
  // lanes read W as 0 and so hold 0.
  const __m256i lim = _mm256_set1_epi64x(32767), neg_lim = _mm256_set1_epi64x(-32767);
  auto row8 = [&](const int8_t* at, int left) {  // 8 bytes of a W row, 0 past I
    int64_t x = 0;
    if (left >= 8)
      __builtin_memcpy(&x, at, 8);
    else
      for (int l = 0; l < left; ++l) x |= static_cast<int64_t>(static_cast<uint8_t>(at[l])) << (8 * l);
    return _mm_cvtsi64_si128(x);
  };
  for (int j = 0; j < J; ++j) {
    const __m256i mult = _mm256_set1_epi64x(requant[3 * j]);
    const int shift = requant[3 * j + 1];
    for (int d = 0; d < D; ++d) {
      const int8_t* w = weights + (static_cast<size_t>(j) * D + d) * DI * I;
      int16_t* out = s.u_hat + (static_cast<size_t>(j) * D + d) * Ip;
      for (int i0 = 0; i0 < Ip; i0 += 8) {
        __m256i acc = _mm256_setzero_si256();
        for (int kp = 0; kp < pairs; ++kp) {
          const int k = 2 * kp;
          const __m128i r0 = row8(w + static_cast<size_t>(k) * I + i0, I - i0);
          const __m128i r1 = k + 1 < DI ? row8(w + static_cast<size_t>(k + 1) * I + i0, I - i0) : _mm_setzero_si128();
          const __m256i up = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.u_pairs + (static_cast<size_t>(kp) * Ip + i0) * 2));
          acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1)), up));
        }
        // clamp(requantize(acc, mult, shift), +-32767), even and odd lanes apart.
        const __m256i even = clamp64(shift_round64(_mm256_mul_epi32(acc, mult), shift), neg_lim, lim);
        const __m256i odd = clamp64(shift_round64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), mult), shift), neg_lim, lim);
        const __m256i r = interleave32(even, odd);
        const __m128i packed = _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i0), packed);
      }
    }
  }
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;

  // s_j += sum over the block at i0 of c u_hat: each product fits int32 (<= 2^30); the sums are
  // kept in 8 int64 lanes per (j, d). Tail lanes have u_hat 0.
  auto add_share = [&](int j, int i0, __m256i c) {
    for (int d = 0; d < D; ++d) {
      const __m256i uh = _mm256_cvtepi16_epi32(_mm_loadu_si128(
          reinterpret_cast<const __m128i*>(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0)));
      const __m256i prod = _mm256_mullo_epi32(c, uh);
      __m256i* lanes = reinterpret_cast<__m256i*>(s.S_lanes + (static_cast<size_t>(j) * D + d) * 8);
      _mm256_store_si256(lanes, _mm256_add_epi64(_mm256_load_si256(lanes),
                                                 _mm256_cvtepi32_epi64(_mm256_castsi256_si128(prod))));
      _mm256_store_si256(lanes + 1, _mm256_add_epi64(_mm256_load_si256(lanes + 1),
                                                     _mm256_cvtepi32_epi64(_mm256_extracti128_si256(prod, 1))));
    }
  };
  // The first iteration's V is 0, so every logit is 0 and every coupling the same c0: its
  // logits and exponentials are skipped.
  const int32_t c0 = fx::softmax_q15_uniform(J);

  const __m256i int32_lo = _mm256_set1_epi64x(INT32_MIN), int32_hi = _mm256_set1_epi64x(INT32_MAX);
  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D * 8; ++n) s.S_lanes[n] = 0;
    for (int i0 = 0; i0 < Ip; i0 += 8) {
      if (iter == 0) {
        for (int j = 0; j < J; ++j) add_share(j, i0, _mm256_set1_epi32(c0));
        continue;
      }
      // The logits of this block: b[j] = u_hat[j][.][block] . V[j], shifted to Q16.
      __m256i m = _mm256_set1_epi32(INT32_MIN);
      for (int j = 0; j < J; ++j) {
        __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
        for (int d = 0; d < D; ++d) {
          const __m256i uh = _mm256_cvtepi16_epi32(_mm_loadu_si128(
              reinterpret_cast<const __m128i*>(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0)));
          const __m256i vb = _mm256_set1_epi64x(s.V[j * D + d]);
          even = _mm256_add_epi64(even, _mm256_mul_epi32(uh, vb));
          odd = _mm256_add_epi64(odd, _mm256_mul_epi32(_mm256_srli_epi64(uh, 32), vb));
        }
        const int shift = requant[3 * j + 2] - 1;
        even = clamp64(shift_round64(even, shift), int32_lo, int32_hi);
        odd = clamp64(shift_round64(odd, shift), int32_lo, int32_hi);
        const __m256i b = interleave32(even, odd);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.b + j * 8), b);
        m = _mm256_max_epi32(m, b);
      }
      // Softmax over the classes, lane by lane (fx::softmax_q15).
      const __m256i m_lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(m));
      const __m256i m_hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(m, 1));
      __m256i sum_lo = _mm256_setzero_si256(), sum_hi = _mm256_setzero_si256();
      for (int j = 0; j < J; ++j) {
        const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.b + j * 8));
        const __m256i e_lo = exp_neg_q30(_mm256_sub_epi64(m_lo, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(b))));
        const __m256i e_hi = exp_neg_q30(_mm256_sub_epi64(m_hi, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(b, 1))));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.e + j * 8), e_lo);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.e + j * 8 + 4), e_hi);
        sum_lo = _mm256_add_epi64(sum_lo, e_lo);
        sum_hi = _mm256_add_epi64(sum_hi, e_hi);
      }
      alignas(32) uint64_t sums[8], recip[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums), sum_lo);
      _mm256_store_si256(reinterpret_cast<__m256i*>(sums + 4), sum_hi);
      for (int l = 0; l < 8; ++l) recip[l] = (uint64_t{1} << 62) / sums[l];  // <= 2^32
      // e * recip (e <= 2^30 and recip <= 2^32: the low and the high word of recip apart).
      const __m256i r_lo = _mm256_load_si256(reinterpret_cast<const __m256i*>(recip));
      const __m256i r_hi = _mm256_load_si256(reinterpret_cast<const __m256i*>(recip + 4));
      const __m256i rh_lo = _mm256_srli_epi64(r_lo, 32), rh_hi = _mm256_srli_epi64(r_hi, 32);
      const __m256i round = _mm256_set1_epi64x(int64_t{1} << 46);
      auto coupling = [&](__m256i e, __m256i r, __m256i rh) {
        const __m256i prod = _mm256_add_epi64(_mm256_mul_epu32(e, r), _mm256_slli_epi64(_mm256_mul_epu32(e, rh), 32));
        return _mm256_srli_epi64(_mm256_add_epi64(prod, round), 47);
      };
      const __m256i to_low = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
      for (int j = 0; j < J; ++j) {
        const __m256i c_lo = coupling(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.e + j * 8)), r_lo, rh_lo);
        const __m256i c_hi = coupling(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.e + j * 8 + 4)), r_hi, rh_hi);
        // The 8 couplings (<= 2^15) as int32 lanes in capsule order.
        const __m256i c = _mm256_inserti128_si256(
            _mm256_castsi128_si256(_mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c_lo, to_low))),
            _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(c_hi, to_low)), 1);
        add_share(j, i0, c);
      }
    }
    simd::end_routing_iteration(p, s, requant, 8, iter, v);
  }
}

}  // namespace avx2
}  // namespace capsrt
