// AVX-512 int8 CapsDense (predictions and routing); must match ref::caps_dense_q bit for bit.
//
// The predictions, with 16 input capsules per vector: computed once into scratch as
// u_hat[j][d][i] (int16, i fastest; W's CAPS_JDKI layout holds W[j][d][k][i] along i the same
// way, u is rearranged to int16 pairs u[k/2][i][k%2] first, for vpdpwssd). The routing is
// simd/caps_dense_q_routing.h over the lane operations below (16 lanes: the logits in 64-bit
// lanes, even and odd lanes apart; the exp and the 64-bit steps of
// x86_avx512_vnni/fixed_point_avx512.h; the partial sums of s_j in 8 int64 lanes per (j, d)).
// Softmax over the input capsules, low-memory routing and row-major W run the reference.
#include <immintrin.h>

#include "reference.h"
#include "simd/caps_dense_q_routing.h"
#include "x86_avx512_vnni/avx512_vnni.h"
#include "x86_avx512_vnni/fixed_point_avx512.h"

namespace capsrt {
namespace avx512_vnni {

namespace {

// The lane operations of simd::caps_dense_q_routing: 16 input capsules per block.
struct Lanes {
  static constexpr int kLanes = 16, kSumLanes = 8;
  using I32 = __m512i;
  static I32 splat(int32_t x) { return _mm512_set1_epi32(x); }
  static I32 max(I32 a, I32 b) { return _mm512_max_epi32(a, b); }
  static I32 load(const int32_t* at) { return _mm512_loadu_si512(at); }
  static void store(int32_t* at, I32 x) { _mm512_storeu_si512(at, x); }
  static __m512i u_hat16(const int16_t* at) {
    return _mm512_cvtepi16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(at)));
  }

  static I32 logits(const int16_t* u_hat, const int32_t* V, int D, int Ip, int i0, int shift) {
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    for (int d = 0; d < D; ++d) {
      const __m512i uh = u_hat16(u_hat + static_cast<size_t>(d) * Ip + i0);
      const __m512i vb = _mm512_set1_epi64(V[d]);
      even = _mm512_add_epi64(even, _mm512_mul_epi32(uh, vb));
      odd = _mm512_add_epi64(odd, _mm512_mul_epi32(_mm512_srli_epi64(uh, 32), vb));
    }
    const __m512i lo = _mm512_set1_epi64(INT32_MIN), hi = _mm512_set1_epi64(INT32_MAX);
    return interleave32(clamp64(shift_round64(even, shift), lo, hi), clamp64(shift_round64(odd, shift), lo, hi));
  }

  // A block's 16 lanes as the even lanes (0, 2, .., 14) and the odd ones, each in 8 int64
  // lanes: m - b is below 2^32 as an unsigned int32 (b <= m), which is all vpmuludq reads of a
  // 64-bit lane, so no lane is widened.
  struct Sums {
    __m512i even, odd;
  };
  static Sums zero_sums() { return Sums{_mm512_setzero_si512(), _mm512_setzero_si512()}; }
  static void exps(I32 m, I32 b, int64_t* e, Sums& sums) {
    const __m512i neg_x = _mm512_sub_epi32(m, b);
    const __m512i e_even = exp_neg_q30(neg_x);
    const __m512i e_odd = exp_neg_q30(_mm512_srli_epi64(neg_x, 32));
    _mm512_storeu_si512(e, e_even);
    _mm512_storeu_si512(e + 8, e_odd);
    sums.even = _mm512_add_epi64(sums.even, e_even);
    sums.odd = _mm512_add_epi64(sums.odd, e_odd);
  }

  struct Recip {
    __m512i even, odd;
  };
  // floor(2^62 / sum) by exact_floor_div where every sum is below 2^52 (with fewer than 2^22
  // classes: always), an exact double; else in 64-bit integers.
  static Recip reciprocals(const Sums& s) {
    const __m512i big = _mm512_set1_epi64(int64_t{1} << 52);
    if ((_mm512_cmpge_epu64_mask(s.even, big) | _mm512_cmpge_epu64_mask(s.odd, big)) != 0) {
      alignas(64) uint64_t r[16];
      _mm512_store_si512(r, s.even);
      _mm512_store_si512(r + 8, s.odd);
      for (uint64_t& x : r) x = (uint64_t{1} << 62) / x;
      return Recip{_mm512_load_si512(r), _mm512_load_si512(r + 8)};
    }
    const __m512d two62 = _mm512_set1_pd(4611686018427387904.0);
    return Recip{_mm512_cvttpd_epi64(exact_floor_div(two62, _mm512_cvtepi64_pd(s.even))),
                 _mm512_cvttpd_epi64(exact_floor_div(two62, _mm512_cvtepi64_pd(s.odd)))};
  }
  // The even and odd lanes' couplings (<= 2^15) back into capsule order.
  static I32 couplings(const int64_t* e, const Recip& r) {
    const __m512i round = _mm512_set1_epi64(int64_t{1} << 46);
    const __m512i c_even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mullo_epi64(_mm512_loadu_si512(e), r.even), round), 47);
    const __m512i c_odd = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mullo_epi64(_mm512_loadu_si512(e + 8), r.odd), round), 47);
    return interleave32(c_even, c_odd);
  }

  // The 16 products (each fits int32) summed in pairs into the 8 int64 lanes of (j, d).
  static void add_share(I32 c, const int16_t* u_hat, int64_t* S_lanes, int D, int Ip, int i0) {
    for (int d = 0; d < D; ++d) {
      const __m512i prod = _mm512_mullo_epi32(c, u_hat16(u_hat + static_cast<size_t>(d) * Ip + i0));
      const __m512i wide = _mm512_add_epi64(_mm512_cvtepi32_epi64(_mm512_castsi512_si256(prod)),
                                            _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(prod, 1)));
      int64_t* lanes = S_lanes + static_cast<size_t>(d) * 8;
      _mm512_store_si512(lanes, _mm512_add_epi64(_mm512_load_si512(lanes), wide));
    }
  }
};

// Predictions u_hat[j][d][i]: vpdpwssd adds W[j][d][k][i] u[i][k] + W[j][d][k+1][i] u[i][k+1]
// per lane, the two W rows interleaved byte by byte and widened to int16 (exact: |w u| <
// 2^14). The tail lanes load W as 0 and so hold 0.
// For the classes [j0, j1) (a task's share: simd::caps_dense_q_split_classes); a function of its
// own, so that the sizes are locals kept in registers (a lambda's captures were reloaded after
// every store: the small network's int8 CapsDense took 15% longer).
void predict_classes(const CapsDenseQParams& p, const int8_t* weights, const int32_t* requant,
                     const simd::CapsDenseQScratch& s, int j0, int j1) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 16);
  const int pairs = (DI + 1) / 2;
  for (int j = j0; j < j1; ++j) {
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
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  simd::caps_dense_q_run<Lanes>(p, u, weights, requant, v, scratch, predict_classes);
}

}  // namespace avx512_vnni
}  // namespace capsrt
