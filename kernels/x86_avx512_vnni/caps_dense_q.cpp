// AVX-512 int8 CapsDense (predictions and routing); must match ref::caps_dense_q bit for bit.
//
// Blocking: input capsules in the lanes. The predictions are computed once into scratch as
// u_hat[j][d][i] (int16, i fastest: 16 input capsules per vector; W's CAPS_JDKI layout holds
// W[j][d][k][i] along i the same way, u is rearranged to int16 pairs u[k/2][i][k%2] first, for
// vpdpwssd). Each routing iteration
// then walks the input capsules 16 at a time: the J logits of a block (b = u_hat . V in 64-bit
// lanes, even and odd lanes apart), their softmax over the classes lane by lane (the exp of
// fixed_point.h in 64-bit lanes; the one division per lane in scalar), and each class's share of
// s_j (the products fit int32, their sum over the block is taken in 64 bits). The squash of the
// J sums is the shared scalar one. Every step computes the integers the reference does: the
// sums are exact, and the rounding steps are fixed_point.h's in vector form.
// Softmax over the input capsules (gram-ai models) and the low-memory routing run the reference.
#include <immintrin.h>

#include "reference.h"
#include "simd/caps_dense_q_common.h"
#include "x86_avx512_vnni/avx512_vnni.h"

namespace capsrt {
namespace avx512_vnni {

namespace {

// shift_round on 64-bit lanes, shift in [0, 62].
__m512i shift_round64(__m512i x, int shift) {
  if (shift == 0) return x;
  return _mm512_sra_epi64(_mm512_add_epi64(x, _mm512_set1_epi64(int64_t{1} << (shift - 1))),
                          _mm_cvtsi32_si128(shift));
}

// 16 int32 lanes from the even-lane and odd-lane int64 results (each holds an int32 value).
__m512i interleave32(__m512i even, __m512i odd) {
  return _mm512_mask_blend_epi32(static_cast<__mmask16>(0xAAAA), even, _mm512_slli_epi64(odd, 32));
}

// clamp(requantize(acc, mult, shift), -32767, 32767) on 16 lanes (fx::requantize).
__m512i requantize16(__m512i acc, int32_t mult, int32_t shift) {
  const __m512i m = _mm512_set1_epi64(mult);
  const __m512i even = shift_round64(_mm512_mul_epi32(acc, m), shift);
  const __m512i odd = shift_round64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), m), shift);
  const __m512i lim = _mm512_set1_epi64(32767);
  const __m512i e = _mm512_max_epi64(_mm512_min_epi64(even, lim), _mm512_sub_epi64(_mm512_setzero_si512(), lim));
  const __m512i o = _mm512_max_epi64(_mm512_min_epi64(odd, lim), _mm512_sub_epi64(_mm512_setzero_si512(), lim));
  return interleave32(e, o);
}

// fx::exp_neg_q30 on 8 lanes of x <= 0 (Q16, >= -2^32). Every product has 32-bit factors, so
// vpmuludq / vpmuldq (one operation) form it, not vpmullq: -x < 2^32 and the constant; then p
// (below the sum of the |a|, < 2^31) and t (< 2^30).
__m512i exp_neg_q30(__m512i x) {
  const __m512i z = shift_round64(_mm512_mul_epu32(_mm512_sub_epi64(_mm512_setzero_si512(), x),
                                                   _mm512_set1_epi64(1549082005)), 30);
  const __m512i k = _mm512_srli_epi64(z, 16);
  const __m512i t = _mm512_slli_epi64(_mm512_and_si512(z, _mm512_set1_epi64(0xFFFF)), 14);
  static const int64_t a[6] = {-744261112, 257940808, -59591895, 10304881, -1387048, 123460};
  __m512i p = _mm512_set1_epi64(a[5]);
  for (int n = 4; n >= 0; --n)
    p = _mm512_add_epi64(shift_round64(_mm512_mul_epi32(p, t), 30), _mm512_set1_epi64(a[n]));
  p = _mm512_add_epi64(_mm512_set1_epi64(int64_t{1} << 30), shift_round64(_mm512_mul_epi32(p, t), 30));
  // shift_round(p, k), k per lane: (p + 2^(k-1)) >> k, and 0 from k >= 31 on.
  const __mmask8 positive = _mm512_cmpgt_epi64_mask(k, _mm512_setzero_si512());
  const __m512i half = _mm512_maskz_sllv_epi64(positive, _mm512_set1_epi64(1),
                                               _mm512_sub_epi64(k, _mm512_set1_epi64(1)));
  const __m512i r = _mm512_srav_epi64(_mm512_add_epi64(p, half), k);
  return _mm512_maskz_mov_epi64(_mm512_cmplt_epi64_mask(k, _mm512_set1_epi64(31)), r);
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  if (simd::caps_dense_q_uses_reference(p)) {
    ref::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, J = q.out_caps, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 16);
  const simd::CapsDenseQScratch s = simd::carve_caps_dense_q(p, 16, scratch);
  const int pairs = (DI + 1) / 2;
  simd::pair_inputs(p, u, Ip, s.u_pairs);
  // Predictions u_hat[j][d][i]: vpdpwssd adds W[j][d][k][i] u[i][k] + W[j][d][k+1][i] u[i][k+1]
  // per lane, the two W rows interleaved byte by byte and widened to int16 (exact: |w u| <
  // 2^14). The tail lanes load W as 0 and so hold 0.
  for (int j = 0; j < J; ++j) {
    for (int d = 0; d < D; ++d) {
      const int8_t* w = weights + (static_cast<size_t>(j) * D + d) * DI * I;
      int16_t* out = s.u_hat + (static_cast<size_t>(j) * D + d) * Ip;
      for (int i0 = 0; i0 < Ip; i0 += 16) {
        const __mmask16 lanes = I - i0 >= 16 ? static_cast<__mmask16>(0xFFFF)
                                             : static_cast<__mmask16>((1u << (I - i0)) - 1);
        __m512i acc = _mm512_setzero_si512();
        for (int kp = 0; kp < pairs; ++kp) {
          const int k = 2 * kp;
          const __m128i r0 = _mm_maskz_loadu_epi8(lanes, w + static_cast<size_t>(k) * I + i0);
          const __m128i r1 = k + 1 < DI ? _mm_maskz_loadu_epi8(lanes, w + static_cast<size_t>(k + 1) * I + i0)
                                        : _mm_setzero_si128();
          const __m256i both = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi8(r0, r1)),
                                                       _mm_unpackhi_epi8(r0, r1), 1);
          const __m512i up = _mm512_loadu_si512(s.u_pairs + (static_cast<size_t>(kp) * Ip + i0) * 2);
          acc = _mm512_dpwssd_epi32(acc, _mm512_cvtepi8_epi16(both), up);
        }
        const __m512i r = requantize16(acc, requant[3 * j], requant[3 * j + 1]);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i0), _mm512_cvtepi32_epi16(r));
      }
    }
  }
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;

  // s_j += sum over the block at i0 of c u_hat: each product fits int32 (<= 2^30), their sum is
  // kept in 8 int64 lanes per (j, d) and added across the lanes once per iteration. Tail lanes
  // have u_hat 0.
  auto add_share = [&](int j, int i0, __m512i c) {
    for (int d = 0; d < D; ++d) {
      const __m512i uh = _mm512_cvtepi16_epi32(_mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0)));
      const __m512i prod = _mm512_mullo_epi32(c, uh);
      const __m512i wide = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(prod)),
                                            _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(prod, 1)));
      int64_t* lanes = s.S_lanes + (static_cast<size_t>(j) * D + d) * 8;
      _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_load_si512(lanes), wide));
    }
  };
  // The first iteration's V is 0, so every logit is 0 and every coupling the same c0: its
  // logits and exponentials are skipped.
  const int32_t c0 = fx::softmax_q15_uniform(J);

  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D; ++n) _mm512_store_si512(s.S_lanes + n * 8, _mm512_setzero_si512());
    for (int i0 = 0; i0 < Ip; i0 += 16) {
      if (iter == 0) {
        for (int j = 0; j < J; ++j) add_share(j, i0, _mm512_set1_epi32(c0));
        continue;
      }
      // The logits of this block: b[j] = u_hat[j][.][block] . V[j], shifted to Q16.
      __m512i m = _mm512_set1_epi32(INT32_MIN);
      for (int j = 0; j < J; ++j) {
        __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
        for (int d = 0; d < D; ++d) {
          const __m512i uh = _mm512_cvtepi16_epi32(_mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0)));
          const __m512i vb = _mm512_set1_epi64(s.V[j * D + d]);
          even = _mm512_add_epi64(even, _mm512_mul_epi32(uh, vb));
          odd = _mm512_add_epi64(odd, _mm512_mul_epi32(_mm512_srli_epi64(uh, 32), vb));
        }
        const int shift = requant[3 * j + 2] - 1;
        const __m512i lo = _mm512_set1_epi64(INT32_MIN), hi = _mm512_set1_epi64(INT32_MAX);
        even = _mm512_max_epi64(_mm512_min_epi64(shift_round64(even, shift), hi), lo);
        odd = _mm512_max_epi64(_mm512_min_epi64(shift_round64(odd, shift), hi), lo);
        const __m512i b = interleave32(even, odd);
        _mm512_storeu_si512(s.b + j * 16, b);
        m = _mm512_max_epi32(m, b);
      }
      // Softmax over the classes, lane by lane (fx::softmax_q15).
      const __m512i m_lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(m));
      const __m512i m_hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(m, 1));
      __m512i sum_lo = _mm512_setzero_si512(), sum_hi = _mm512_setzero_si512();
      for (int j = 0; j < J; ++j) {
        const __m512i b = _mm512_loadu_si512(s.b + j * 16);
        const __m512i e_lo = exp_neg_q30(_mm512_sub_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(b)), m_lo));
        const __m512i e_hi = exp_neg_q30(_mm512_sub_epi64(_mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(b, 1)), m_hi));
        _mm512_storeu_si512(s.e + j * 16, e_lo);
        _mm512_storeu_si512(s.e + j * 16 + 8, e_hi);
        sum_lo = _mm512_add_epi64(sum_lo, e_lo);
        sum_hi = _mm512_add_epi64(sum_hi, e_hi);
      }
      alignas(64) uint64_t sums[16], recip[16];
      _mm512_store_si512(sums, sum_lo);
      _mm512_store_si512(sums + 8, sum_hi);
      for (int l = 0; l < 16; ++l) recip[l] = (uint64_t{1} << 62) / sums[l];
      const __m512i r_lo = _mm512_load_si512(recip), r_hi = _mm512_load_si512(recip + 8);
      const __m512i round = _mm512_set1_epi64(int64_t{1} << 46);
      for (int j = 0; j < J; ++j) {
        const __m512i c_lo = _mm512_srli_epi64(
            _mm512_add_epi64(_mm512_mullo_epi64(_mm512_loadu_si512(s.e + j * 16), r_lo), round), 47);
        const __m512i c_hi = _mm512_srli_epi64(
            _mm512_add_epi64(_mm512_mullo_epi64(_mm512_loadu_si512(s.e + j * 16 + 8), r_hi), round), 47);
        const __m512i c = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(c_lo)),
                                             _mm512_cvtepi64_epi32(c_hi), 1);
        add_share(j, i0, c);
      }
    }
    simd::end_routing_iteration(p, s, requant, 8, iter, v);
  }
}

}  // namespace avx512_vnni
}  // namespace capsrt
