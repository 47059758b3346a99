// The mve int8 CapsDense with low-memory routing; must match ref::caps_dense_q bit for bit (the
// same integer steps as the armv7em-dsp kernel, arm_dsp/caps_dense_q.cpp, which says the plan:
// blocks of input capsules whose predictions are computed once per iteration and kept for
// their logits, couplings and share of s_j; the first iteration's couplings uniform).
//
// Blocking: 16 input capsules a block, the 16 bytes of W[j, d, k, i .. i+15] (JDKI) and of the
// transposed inputs u[i .. i+15, k]. Loaded as two int16x8 halves each (VLDRB.S16), multiplied
// into int32 lanes (VMULLB/VMULLT: even and odd lanes of each half), summed over k: 4 vectors of
// 4 capsule sums, in the slot order {0, 2, 4, 6}, {1, 3, 5, 7}, {8, ..}, {9, ..}, which every
// later step of the block keeps (the routing treats each capsule alone, and sums over them
// exactly). The softmax runs 4 capsules a vector (the exponential: arm_mve/routing_mve.h).
// The requantisation, exact, in 32-bit lanes, with P = acc x mult:
//   shift s >= 32:  VQDMULH gives H = floor(P / 2^31), and (P + 2^(s-1)) >> s =
//                   (H + 2^(s-32)) >> (s - 31), a rounding shift of H;
//   17 <= s <= 31:  VQRDMULH of acc 2^(31-s) and mult, (acc mult 2^(31-s) + 2^30) >> 31, is
//                   (P + 2^(s-1)) >> s;
// (|acc| <= 2^16, so |acc 2^(31-s)| <= 2^30 and |P| < 2^47: every result fits 32 bits, and
// neither multiply can saturate).
// Shifts below 17 take the scalar steps. The logits are 32-bit lanes where they split exactly
// (split_logits), else VMLALDAVA (64-bit sums of 32 x 32 products) on the predictions widened to
// int32, as is each block's share of s_j.
#include <arm_mve.h>

#include "arm_dsp/routing_q32.h"
#include "arm_mve/mve.h"
#include "arm_mve/routing_mve.h"
#include "fixed_point.h"

namespace capsrt {
namespace mve {

namespace {

constexpr int kLanes = kCapsLanes;

// clamp(requantize(acc, mult, shift), +-32767) in each lane (the header says how).
struct VecRequant {
  int32_t mult, shift;
  explicit VecRequant(const int32_t* rq) : mult(rq[0]), shift(rq[1]) {}
  bool vector() const { return shift >= 17; }
  int32x4_t operator()(int32x4_t acc) const {
    int32x4_t r;
    if (shift >= 32)
      r = vrshlq_n_s32(vqdmulhq_n_s32(acc, mult), 31 - shift);
    else  // VQRDMULH: (2 a b + 2^31) >> 32 = (a b + 2^30) >> 31, with a = acc 2^(31-s) (|a| <= 2^30)
      r = vqrdmulhq_n_s32(vshlq_r_s32(acc, 31 - shift), mult);
    return vminq_s32(vmaxq_s32(r, vdupq_n_s32(-32767)), vdupq_n_s32(32767));
  }
};

// The predictions of the block's 16 capsules for class j: ph[d * 16 + slot]. One half of the
// block (8 capsules, 2 accumulators) at a time: both halves at once needed 10 vector registers
// of MVE's 8, and GCC 12 spilled an accumulator in the inner loop.
void predict_block(const CapsDenseQParams& p, const int8_t* weights, const int32_t* rq, const int8_t* ut, int j,
                   int i0, int16_t* ph) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim;
  const VecRequant req(rq);
  const int8_t* const wj = weights + static_cast<size_t>(j) * q.out_dim * DI * I + i0;  // (j, d = 0, k = 0, i0)
  for (int h = 0; h < kLanes; h += 8) {
    const int8_t* w = wj + h;
    for (int d = 0; d < q.out_dim; ++d) {
      int32x4_t a0 = vdupq_n_s32(0), a1 = a0;
      for (int k = 0; k < DI; ++k, w += I) {
        const int16x8_t wv = vldrbq_s16(w), uv = vldrbq_s16(ut + 16 * k + h);
        a0 = vaddq_s32(a0, vmullbq_int_s16(wv, uv));  // capsules h, h+2, h+4, h+6
        a1 = vaddq_s32(a1, vmulltq_int_s16(wv, uv));  // h+1, h+3, h+5, h+7
      }
      int16_t* out = ph + d * kLanes + h;
      if (req.vector()) {
        vstrhq_s32(out, req(a0));
        vstrhq_s32(out + 4, req(a1));
      } else {  // the scalar steps
        int32_t acc[8];
        vstrwq_s32(acc, a0);
        vstrwq_s32(acc + 4, a1);
        for (int l = 0; l < 8; ++l)
          out[l] = static_cast<int16_t>(fx::clamp32(fx::requantize(acc[l], rq[0], rq[1]), -32767, 32767));
      }
    }
  }
}

// The block's logits for class j: b[slot], ref's logit. Per slot, its predictions for 4
// components at a time are gathered (16 halfwords apart) and VMLALDAVA adds their products with
// V[j, d .. d+3] to the 64-bit dot product; the last 1 to 3 components are predicated.
inline void logits(const int16_t* ph, const int32_t* V, int dim, const fx::LogitShift& sh, int32_t* b) {
  const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), 2 * kLanes);  // bytes: d, d+1, ...
  for (int l = 0; l < kLanes; ++l) {
    int64_t dot = 0;
    for (int d = 0; d < dim; d += 4) {
      const mve_pred16_t p = vctp32q(static_cast<uint32_t>(dim - d));
      const int32x4_t u_hat = vldrhq_gather_offset_z_s32(ph + d * kLanes + l, offsets, p);
      dot = vmlaldavaq_s32(dot, u_hat, vldrwq_z_s32(V + d, p));
    }
    b[l] = sh(dot);
  }
}

// The same logits in 32-bit lanes, 8 slots at a time, when the 64-bit dot product splits
// exactly: with V = 256 Vh + Vl (Vh = V >> 8, Vl in [0, 255]), dot = 256 A + B for
// A = sum_d u_hat Vh and B = sum_d u_hat Vl, and for a shift s = F_u - 1 in [8, 30]
//   (dot + 2^(s-1)) >> s = (A + ((B + 2^(s-1)) >> 8)) >> (s - 8).
// |u_hat| <= 2^15 and |V| <= t 32767 after t iterations, so |A| <= dim t 2^22 and
// |B + 2^(s-1)| < 2^30: every lane fits 32 bits when dim (iterations - 1) < 256 (the caller
// checks), and the result fits int32 without the reference's clamp. One VMLA per 4 slots, part
// and component, instead of a gather and a VMLALDAVA per slot and 4 components.
inline bool split_logits_apply(int dim, int iterations, const int32_t* requant, int classes) {
  if (dim * (iterations - 1) >= 256) return false;
  for (int j = 0; j < classes; ++j)
    if (requant[3 * j + 2] - 1 < 8 || requant[3 * j + 2] - 1 > 30) return false;
  return true;
}

inline void split_logits(const int16_t* ph, const int32_t* V, int dim, int32_t f_u, int32_t* b) {
  const int s = f_u - 1;
  for (int g = 0; g < kLanes; g += 8) {
    int32x4_t a0 = vdupq_n_s32(0), a1 = a0, b0 = a0, b1 = a0;
    for (int d = 0; d < dim; ++d) {
      const int32x4_t x0 = vldrhq_s32(ph + d * kLanes + g), x1 = vldrhq_s32(ph + d * kLanes + g + 4);
      const int32_t vh = V[d] >> 8, vl = V[d] & 0xFF;
      a0 = vmlaq_n_s32(a0, x0, vh);
      a1 = vmlaq_n_s32(a1, x1, vh);
      b0 = vmlaq_n_s32(b0, x0, vl);
      b1 = vmlaq_n_s32(b1, x1, vl);
    }
    const int32_t round = int32_t{1} << (s - 1);
    vstrwq_s32(b + g, vshlq_r_s32(vaddq_s32(a0, vshrq_n_s32(vaddq_n_s32(b0, round), 8)), 8 - s));
    vstrwq_s32(b + g + 4, vshlq_r_s32(vaddq_s32(a1, vshrq_n_s32(vaddq_n_s32(b1, round), 8)), 8 - s));
  }
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights, const int32_t* requant,
                  int16_t* v, void* scratch) {
  if (!caps_blocks::applies<kLanes>(p)) {
    dsp::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, J = q.out_caps, D = q.out_dim, DI = q.in_dim;
  const caps_blocks::Scratch s = caps_blocks::carve<kLanes>(p, scratch);
  int8_t* const ut_bytes = reinterpret_cast<int8_t*>(s.ut);
  // u transposed by blocks: ut[(b DI + k) 16 + n] = u[16 b + n, k].
  for (int b = 0; b < I / kLanes; ++b)
    for (int k = 0; k < DI; ++k)
      for (int n = 0; n < kLanes; ++n) ut_bytes[(b * DI + k) * kLanes + n] = u[(b * kLanes + n) * DI + k];
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;
  const int32_t uniform = fx::softmax_q15_uniform(J);
  const bool split = split_logits_apply(D, p.iterations, requant, J);
  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D; ++n) s.S[n] = 0;
    for (int i0 = 0; i0 < I; i0 += kLanes) {
      const int8_t* ut = ut_bytes + static_cast<size_t>(i0) * DI;
      for (int j = 0; j < J; ++j) predict_block(p, weights, requant + 3 * j, ut, j, i0, s.ph + j * D * kLanes);
      if (iter == 0) {
        for (int n = 0; n < J * kLanes; ++n) s.c[n] = uniform;
      } else {
        for (int j = 0; j < J; ++j)
          if (split)
            split_logits(s.ph + j * D * kLanes, s.V + j * D, D, requant[3 * j + 2], s.b + j * kLanes);
          else
            logits(s.ph + j * D * kLanes, s.V + j * D, D, fx::LogitShift(requant[3 * j + 2]), s.b + j * kLanes);
        // Each capsule's softmax over the classes (ref's softmax_q15), 4 capsules a vector: the
        // largest logit, the exponentials (routing_mve.h), their sum split in 16-bit halves
        // (each sum then fits 32 bits for up to 64 classes); the division and the couplings'
        // 64-bit products per capsule.
        for (int g = 0; g < kLanes; g += 4) {
          int32x4_t m = vldrwq_s32(s.b + g);
          for (int j = 1; j < J; ++j) m = vmaxq_s32(m, vldrwq_s32(s.b + j * kLanes + g));
          uint32x4_t sum_hi = vdupq_n_u32(0), sum_lo = vdupq_n_u32(0);
          for (int j = 0; j < J; ++j) {
            const uint32x4_t x = vreinterpretq_u32_s32(vsubq_s32(m, vldrwq_s32(s.b + j * kLanes + g)));
            const uint32x4_t e = exp_neg_q30_u32(x);  // -(b - m) >= 0
            vstrwq_u32(s.e + j * kLanes + g, e);
            sum_hi = vaddq_u32(sum_hi, vshrq_n_u32(e, 16));
            sum_lo = vaddq_u32(sum_lo, vandq_u32(e, vdupq_n_u32(0xFFFFu)));
          }
          uint32_t hi[4], lo[4];
          vstrwq_u32(hi, sum_hi);
          vstrwq_u32(lo, sum_lo);
          for (int n = 0; n < 4; ++n) {
            const int l = g + n;
            const uint64_t sum = (uint64_t{hi[n]} << 16) + lo[n];
            const uint64_t recip = (uint64_t{1} << 62) / sum;
            for (int j = 0; j < J; ++j)
              s.c[j * kLanes + l] =
                  static_cast<int32_t>((uint64_t{s.e[j * kLanes + l]} * recip + (uint64_t{1} << 46)) >> 47);
          }
        }
      }
      // The block's share of every s_j: sum over the 16 slots of c x u_hat, 64-bit.
      for (int j = 0; j < J; ++j) {
        const int32_t* c = s.c + j * kLanes;
        const int32x4_t c0 = vldrwq_s32(c), c1 = vldrwq_s32(c + 4), c2 = vldrwq_s32(c + 8), c3 = vldrwq_s32(c + 12);
        const int16_t* ph = s.ph + j * D * kLanes;
        for (int d = 0; d < D; ++d, ph += kLanes) {
          int64_t acc = s.S[j * D + d];
          acc = vmlaldavaq_s32(acc, c0, vldrhq_s32(ph));
          acc = vmlaldavaq_s32(acc, c1, vldrhq_s32(ph + 4));
          acc = vmlaldavaq_s32(acc, c2, vldrhq_s32(ph + 8));
          acc = vmlaldavaq_s32(acc, c3, vldrhq_s32(ph + 12));
          s.S[j * D + d] = acc;
        }
      }
    }
    for (int j = 0; j < J; ++j)
      fx::routing_squash_q(p.squash, s.S + j * D, D, 15 + requant[3 * j + 2] - p.squash.in_frac,
                           iter + 1 < p.iterations, v + j * D, s.V + j * D);
  }
}

}  // namespace mve
}  // namespace capsrt
