// AVX2 int8 CapsDense (predictions and routing); must match ref::caps_dense_q bit for bit.
//
// The predictions, with 8 input capsules per vector: computed once into scratch as
// u_hat[j][d][i] (int16, i fastest; W's CAPS_JDKI layout holds W[j][d][k][i] along i the same
// way, u is rearranged to int16 pairs u[k/2][i][k%2] first, for vpmaddwd). The routing is
// simd/caps_dense_q_routing.h over the lane operations below (8 lanes: the logits in 64-bit
// lanes, even and odd lanes apart; the exp and the 64-bit steps of x86_avx2/fixed_point_avx2.h;
// the partial sums of s_j in 8 int64 lanes per (j, d)). Softmax over the inputs, low-memory
// routing and row-major W run the reference.
#include <immintrin.h>

#include "reference.h"
#include "simd/caps_dense_q_routing.h"
#include "x86_avx2/avx2.h"
#include "x86_avx2/fixed_point_avx2.h"

namespace capsrt {
namespace avx2 {

namespace {

// The lane operations of simd::caps_dense_q_routing: 8 input capsules per block.
struct Lanes {
  static constexpr int kLanes = 8, kSumLanes = 8;
  using I32 = __m256i;
  static I32 splat(int32_t x) { return _mm256_set1_epi32(x); }
  static I32 max(I32 a, I32 b) { return _mm256_max_epi32(a, b); }
  static I32 load(const int32_t* at) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(at)); }
  static void store(int32_t* at, I32 x) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(at), x); }
  static __m256i u_hat8(const int16_t* at) {
    return _mm256_cvtepi16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(at)));
  }

  static I32 logits(const int16_t* u_hat, const int32_t* V, int D, int Ip, int i0, int shift) {
    __m256i even = _mm256_setzero_si256(), odd = _mm256_setzero_si256();
    for (int d = 0; d < D; ++d) {
      const __m256i uh = u_hat8(u_hat + static_cast<size_t>(d) * Ip + i0);
      const __m256i vb = _mm256_set1_epi64x(V[d]);
      even = _mm256_add_epi64(even, _mm256_mul_epi32(uh, vb));
      odd = _mm256_add_epi64(odd, _mm256_mul_epi32(_mm256_srli_epi64(uh, 32), vb));
    }
    const __m256i lo = _mm256_set1_epi64x(INT32_MIN), hi = _mm256_set1_epi64x(INT32_MAX);
    return interleave32(clamp64(shift_round64(even, shift), lo, hi), clamp64(shift_round64(odd, shift), lo, hi));
  }

  // A block's 8 lanes as the even lanes (0, 2, 4, 6) and the odd ones, each in 4 int64 lanes:
  // m - b is below 2^32 as an unsigned int32 (b <= m), which is all vpmuludq reads of a 64-bit
  // lane, so no lane is widened.
  struct Sums {
    __m256i even, odd;
  };
  static Sums zero_sums() { return Sums{_mm256_setzero_si256(), _mm256_setzero_si256()}; }
  static void exps(I32 m, I32 b, int64_t* e, Sums& sums) {
    const __m256i neg_x = _mm256_sub_epi32(m, b);
    const __m256i e_even = exp_neg_q30(neg_x);
    const __m256i e_odd = exp_neg_q30(_mm256_srli_epi64(neg_x, 32));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(e), e_even);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(e + 4), e_odd);
    sums.even = _mm256_add_epi64(sums.even, e_even);
    sums.odd = _mm256_add_epi64(sums.odd, e_odd);
  }

  // Each reciprocal (<= 2^32) with its high word apart too: e recip = e r + (e r_high) << 32, r
  // its low word (vpmuludq reads no more).
  struct Recip {
    __m256i even, odd, even_high, odd_high;
  };
  // floor(2^62 / sum) by exact_floor_div where every sum is below 2^52 (with fewer than 2^22
  // classes: always), an exact double; else in 64-bit integers.
  static Recip reciprocals(const Sums& s) {
    __m256i even, odd;
    if (_mm256_testz_si256(_mm256_srli_epi64(_mm256_or_si256(s.even, s.odd), 52), _mm256_set1_epi64x(-1))) {
      const __m256d two62 = _mm256_set1_pd(4611686018427387904.0);
      even = to_int(exact_floor_div(two62, to_double(s.even)));
      odd = to_int(exact_floor_div(two62, to_double(s.odd)));
    } else {
      alignas(32) uint64_t r[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(r), s.even);
      _mm256_store_si256(reinterpret_cast<__m256i*>(r + 4), s.odd);
      for (uint64_t& x : r) x = (uint64_t{1} << 62) / x;
      even = _mm256_load_si256(reinterpret_cast<const __m256i*>(r));
      odd = _mm256_load_si256(reinterpret_cast<const __m256i*>(r + 4));
    }
    return Recip{even, odd, _mm256_srli_epi64(even, 32), _mm256_srli_epi64(odd, 32)};
  }
  static I32 couplings(const int64_t* e, const Recip& r) {
    const __m256i round = _mm256_set1_epi64x(int64_t{1} << 46);
    auto coupling = [&](__m256i ex, __m256i rl, __m256i rh) {
      const __m256i prod = _mm256_add_epi64(_mm256_mul_epu32(ex, rl), _mm256_slli_epi64(_mm256_mul_epu32(ex, rh), 32));
      return _mm256_srli_epi64(_mm256_add_epi64(prod, round), 47);
    };
    const __m256i c_even = coupling(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e)), r.even, r.even_high);
    const __m256i c_odd = coupling(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e + 4)), r.odd, r.odd_high);
    // The 8 couplings (<= 2^15) as int32 lanes in capsule order: the even lanes' in the low
    // words, the odd lanes' in the high ones.
    return _mm256_blend_epi32(c_even, _mm256_slli_epi64(c_odd, 32), 0xAA);
  }

  static void add_share(I32 c, const int16_t* u_hat, int64_t* S_lanes, int D, int Ip, int i0) {
    for (int d = 0; d < D; ++d) {
      const __m256i prod = _mm256_mullo_epi32(c, u_hat8(u_hat + static_cast<size_t>(d) * Ip + i0));
      __m256i* lanes = reinterpret_cast<__m256i*>(S_lanes + static_cast<size_t>(d) * 8);
      _mm256_store_si256(lanes, _mm256_add_epi64(_mm256_load_si256(lanes),
                                                 _mm256_cvtepi32_epi64(_mm256_castsi256_si128(prod))));
      _mm256_store_si256(lanes + 1, _mm256_add_epi64(_mm256_load_si256(lanes + 1),
                                                     _mm256_cvtepi32_epi64(_mm256_extracti128_si256(prod, 1))));
    }
  }
};

// Predictions u_hat[j][d][i]: vpmaddwd adds W[j][d][k][i] u[i][k] + W[j][d][k+1][i] u[i][k+1]
// per lane, the two W rows interleaved byte by byte and widened to int16 (exact). The tail
// lanes read W as 0 and so hold 0.
// For the classes [j0, j1) (a task's share: simd::caps_dense_q_split_classes); a function of its
// own, so that the sizes are locals kept in registers (a lambda's captures were reloaded after
// every store: the small network's int8 CapsDense took 15% longer).
void predict_classes(const CapsDenseQParams& p, const int8_t* weights, const int32_t* requant,
                     const simd::CapsDenseQScratch& s, int j0, int j1) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 8);
  const int pairs = (DI + 1) / 2;
  const __m256i lim = _mm256_set1_epi64x(32767), neg_lim = _mm256_set1_epi64x(-32767);
  auto row8 = [&](const int8_t* at, int left) {  // 8 bytes of a W row, 0 past I
    int64_t x = 0;
    if (left >= 8)
      __builtin_memcpy(&x, at, 8);
    else
      for (int l = 0; l < left; ++l) x |= static_cast<int64_t>(static_cast<uint8_t>(at[l])) << (8 * l);
    return _mm_cvtsi64_si128(x);
  };
  for (int j = j0; j < j1; ++j) {
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
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  simd::caps_dense_q_run<Lanes>(p, u, weights, requant, v, scratch, predict_classes);
}

}  // namespace avx2
}  // namespace capsrt
