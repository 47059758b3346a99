// The armv7em-dsp int8 CapsDense with low-memory routing (the predictions recomputed where they
// are needed, as a 64 KiB part must); must match ref::caps_dense_q bit for bit: the same sums,
// requantisations, logits, softmax and squash, in the same order of the same integer steps.
//
// Blocking: 4 input capsules at a time, the 4 bytes of one word. The weights are JDKI, input
// capsule fastest, so W[j, d, k, i .. i+3] is one word; the input capsules are transposed once
// per call into the same shape, u[i .. i+3, k] one word. Per (j, d, k) both words are widened
// with SXTB16 into (i, i+2) and (i+1, i+3) int16 pairs, and SMLABB / SMLATT add each capsule's
// product to its own sum (a prediction is a sum over k within one capsule, so SMLAD's pairwise
// sum does not apply). A block's predictions for every class are kept (J x DO x 4 int16), so
// each is computed once per iteration: its logits, one exponential per class and capsule (the
// reference's softmax computes each twice; the values are the same), the couplings, and the
// block's share of s_j, summed over its 4 capsules before it is added to S.
// The first iteration's logits are all 0 (V = 0): its couplings are softmax_q15_uniform's, as
// the reference's softmax of equal logits gives.
// Other configurations (stored predictions, softmax over the inputs, row-major W, I or DI not a
// multiple of 4) run ref::caps_dense_q.
#include <arm_acle.h>

#include "arm_dsp/dsp.h"
#include "arm_dsp/routing_q32.h"
#include "arm_dsp/simd32.h"
#include "fixed_point.h"
#include "reference.h"

// caps_predict_block.S: predict_block<4> for a shift >= 18, in Thumb-2 assembly.
extern "C" void capsrt_dsp_predict_block4(const int8_t* w, int32_t I, const uint32_t* u, int32_t D,
                                          const int32_t* rq, int16_t* ph, int32_t J);

namespace capsrt {
namespace dsp {

namespace {

constexpr int kLanes = kCapsLanes;  // input capsules per block: one word

// The predictions of capsules i0 .. i0+3 for class j: ph[d * 4 + l], as ref's predict.
// kDI: the capsule dimension when it is known at compile time (4: the loop over k unrolled), 0.
template <int kDI>
void predict_block(const CapsDenseQParams& p, const int8_t* weights, const fx::Requant32& rq, const uint32_t* ut,
                   int j, int i0, int16_t* ph) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = kDI > 0 ? kDI : q.in_dim;
  const int8_t* w = weights + static_cast<size_t>(j) * q.out_dim * DI * I + i0;  // (j, d = 0, k = 0, i0)
  for (int d = 0; d < q.out_dim; ++d, ph += kLanes) {
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (int k = 0; k < DI; ++k, w += I) {
      const uint32_t wv = load_word(w), uv = ut[k];
      const uint32_t we = __sxtb16(wv), wo = sxtb16_odd(wv), ue = __sxtb16(uv), uo = sxtb16_odd(uv);
      a0 = __smlabb(we, ue, a0);  // capsule i0
      a2 = __smlatt(we, ue, a2);  // i0 + 2
      a1 = __smlabb(wo, uo, a1);  // i0 + 1
      a3 = __smlatt(wo, uo, a3);  // i0 + 3
    }
    ph[0] = static_cast<int16_t>(rq(a0, -32767, 32767));
    ph[1] = static_cast<int16_t>(rq(a1, -32767, 32767));
    ph[2] = static_cast<int16_t>(rq(a2, -32767, 32767));
    ph[3] = static_cast<int16_t>(rq(a3, -32767, 32767));
  }
}

// b = u_hat . V in Q(F_u + 15), to Q16: ref's logit, for the 4 capsules of a block at once
// (each V[d] loaded once), into b[0 .. 3].
inline void logits(const int16_t* ph, const int32_t* V, int dim, const fx::LogitShift& sh, int32_t* b) {
  int64_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  for (int d = 0; d < dim; ++d, ph += kLanes) {
    const int32_t v = V[d];
    d0 += int64_t{ph[0]} * v;
    d1 += int64_t{ph[1]} * v;
    d2 += int64_t{ph[2]} * v;
    d3 += int64_t{ph[3]} * v;
  }
  b[0] = sh(d0), b[1] = sh(d1), b[2] = sh(d2), b[3] = sh(d3);
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights, const int32_t* requant,
                  int16_t* v, void* scratch) {
  if (!caps_blocks::applies<kLanes>(p)) {
    ref::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, J = q.out_caps, D = q.out_dim, DI = q.in_dim;
  const caps_blocks::Scratch s = caps_blocks::carve<kLanes>(p, scratch);
  uint32_t* const ut_words = reinterpret_cast<uint32_t*>(s.ut);  // [I / 4, DI] words
  // u transposed by blocks: word (b, k) = u[4b .. 4b+3, k].
  for (int b = 0; b < I / kLanes; ++b)
    for (int k = 0; k < DI; ++k) {
      const int8_t* x = u + static_cast<size_t>(b) * kLanes * DI + k;
      ut_words[b * DI + k] = static_cast<uint8_t>(x[0]) | static_cast<uint32_t>(static_cast<uint8_t>(x[DI])) << 8 |
                         static_cast<uint32_t>(static_cast<uint8_t>(x[2 * DI])) << 16 |
                         static_cast<uint32_t>(static_cast<uint8_t>(x[3 * DI])) << 24;
    }
  for (int n = 0; n < J * D; ++n) s.V[n] = 0, s.PS[n] = 0;
  // The assembly's requantisation arguments per class (caps_predict_block.S), or shift 0: C.
  bool all_assembly = true;
  for (int j = 0; j < J; ++j) {
    const int32_t mult = requant[3 * j], shift = requant[3 * j + 1];
    int32_t* a = s.rq + 4 * j;
    a[0] = mult, a[1] = DI == 4 && shift >= 18 ? shift : 0;
    a[2] = shift <= 32 ? 32 - shift : int32_t{1} << (shift - 33), a[3] = shift - 32;
    all_assembly = all_assembly && a[1] != 0;
  }
  const int32_t uniform = fx::softmax_q15_uniform(J);
  constexpr uint32_t kOnes = 0x00010001u;
  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D; ++n) s.S[n] = 0;
    for (int i0 = 0; i0 < I; i0 += kLanes) {
      const uint32_t* ut = ut_words + static_cast<size_t>(i0 / kLanes) * DI;
      // 4-dimensional input capsules: the assembly loop (caps_predict_block.S), which takes the
      // inputs widened; other dimensions, and shifts below 18, the same in C.
      uint32_t pairs[8];
      if (DI == 4)
        for (int k = 0; k < 4; ++k) pairs[2 * k] = __sxtb16(ut[k]), pairs[2 * k + 1] = sxtb16_odd(ut[k]);
      if (all_assembly) {
        capsrt_dsp_predict_block4(weights + i0, I, pairs, D, s.rq, s.ph, J);
      } else {
        for (int j = 0; j < J; ++j) {
          int16_t* ph = s.ph + j * D * kLanes;
          if (s.rq[4 * j + 1] != 0)
            capsrt_dsp_predict_block4(weights + static_cast<size_t>(j) * D * 4 * I + i0, I, pairs, D, s.rq + 4 * j, ph, 1);
          else if (DI == 4)
            predict_block<4>(p, weights, fx::Requant32(requant[3 * j], requant[3 * j + 1]), ut, j, i0, ph);
          else
            predict_block<0>(p, weights, fx::Requant32(requant[3 * j], requant[3 * j + 1]), ut, j, i0, ph);
        }
      }
      // The block's share of every s_j, sum_i c u_hat. The first iteration's couplings are all
      // equal (V = 0: softmax_q15_uniform's), so it sums the predictions alone, PS = sum_i u_hat
      // (2 SMLAD a (j, d): 4 capsules), and S = c PS at the end. The later ones write
      // c = (c - 2^14) + 2^14: c - 2^14 fits int16 (c is 0 .. 2^15), so a (j, d) takes two
      // SMLALD of (c - 2^14, u_hat) pairs, and 2^14 PS is added at the end. Both are the same
      // integers as the reference's 64-bit sum of c u_hat.
      if (iter == 0) {
        for (int n = 0; n < J * D; ++n) {
          const int16_t* ph = s.ph + n * kLanes;
          s.PS[n] = static_cast<int32_t>(__smlad(load_word(ph), kOnes, __smlad(load_word(ph + 2), kOnes, s.PS[n])));
        }
        continue;
      }
      // Couplings: each capsule's softmax over the classes (ref's softmax_q15, each exponential once).
      for (int j = 0; j < J; ++j)
        logits(s.ph + j * D * kLanes, s.V + j * D, D, fx::LogitShift(requant[3 * j + 2]), s.b + j * kLanes);
      for (int l = 0; l < kLanes; ++l) {
        const int32_t* b = s.b + l;  // capsule l's logits, kLanes apart
        int32_t m = b[0];
        for (int j = 1; j < J; ++j) m = b[j * kLanes] > m ? b[j * kLanes] : m;
        uint64_t sum = 0;
        for (int j = 0; j < J; ++j)
          sum += s.e[j] = fx::exp_neg_q30_u32(static_cast<uint32_t>(m) - static_cast<uint32_t>(b[j * kLanes]));
        const uint64_t recip = (uint64_t{1} << 62) / sum;
        for (int j = 0; j < J; ++j)
          s.c[j * kLanes + l] = static_cast<int32_t>((s.e[j] * recip + (uint64_t{1} << 46)) >> 47) - (1 << 14);
      }
      for (int j = 0; j < J; ++j) {
        const int32_t* c = s.c + j * kLanes;
        const uint32_t c01 = (static_cast<uint32_t>(c[0]) & 0xFFFFu) | static_cast<uint32_t>(c[1]) << 16;
        const uint32_t c23 = (static_cast<uint32_t>(c[2]) & 0xFFFFu) | static_cast<uint32_t>(c[3]) << 16;
        const int16_t* ph = s.ph + j * D * kLanes;
        for (int d = 0; d < D; ++d, ph += kLanes)
          s.S[j * D + d] = __smlald(c01, load_word(ph), __smlald(c23, load_word(ph + 2), s.S[j * D + d]));
      }
    }
    for (int n = 0; n < J * D; ++n)
      s.S[n] = iter == 0 ? int64_t{uniform} * s.PS[n] : s.S[n] + int64_t{s.PS[n]} * (1 << 14);
    for (int j = 0; j < J; ++j)
      fx::routing_squash_q(p.squash, s.S + j * D, D, 15 + requant[3 * j + 2] - p.squash.in_frac,
                           iter + 1 < p.iterations, v + j * D, s.V + j * D);
  }
}

}  // namespace dsp
}  // namespace capsrt
