// NEON int8 CapsDense (predictions and routing, armv7 and aarch64); must match ref::caps_dense_q
// bit for bit.
//
// Blocking as the x86 kernels (x86_avx2/caps_dense_q.cpp), with 4 input capsules per vector:
// the predictions are computed once into scratch as u_hat[j][d][i] (int16, i fastest; W's
// CAPS_JDKI layout holds W[j][d][k][i] along i the same way, u is rearranged to int16 pairs
// first, simd/caps_dense_q_common.h), and each routing iteration walks the input capsules 4 at a time: the J logits of a
// block (b = u_hat . V with vmlal_n_s32 into 64-bit lanes), their softmax over the classes lane
// by lane (fixed_point.h's exp: vmull for the 64-bit products, vrshr/vrshl, which round exactly
// as fx::shift_round does; the one division per lane in scalar), and each class's share of s_j
// (the products fit int32; their sums are kept in 64-bit lanes and added across once per
// iteration). The first iteration's couplings are one constant (V = 0). The squash of the J
// sums is the shared scalar one. Softmax over the inputs, low-memory routing and row-major W run
// the reference.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "arm_neon/neon.h"

namespace capsrt {
namespace neon {

namespace {

// fx::exp_neg_q30 on 2 lanes, given -x (0 <= -x < 2^32, x the Q16 logit difference); the
// result is at most 2^30.
uint32x2_t exp_neg_q30(uint32x2_t neg_x) {
  // z = shift_round(-x log2(e) in Q30, 30) (vrshr adds 2^29 and shifts).
  const uint64x2_t z = vrshrq_n_u64(vmull_u32(neg_x, vdup_n_u32(1549082005u)), 30);
  const uint32x2_t k = vmovn_u64(vshrq_n_u64(z, 16));  // < 2^18
  const int32x2_t t = vreinterpret_s32_u32(vshl_n_u32(vmovn_u64(vandq_u64(z, vdupq_n_u64(0xFFFF))), 14));
  static const int32_t a[6] = {-744261112, 257940808, -59591895, 10304881, -1387048, 123460};
  // Horner in Q30: |p| stays below the sum of the |a|, < 2^31, so every step fits int32.
  int32x2_t p = vdup_n_s32(a[5]);
  for (int n = 4; n >= 0; --n) p = vadd_s32(vmovn_s64(vrshrq_n_s64(vmull_s32(p, t), 30)), vdup_n_s32(a[n]));
  p = vadd_s32(vmovn_s64(vrshrq_n_s64(vmull_s32(p, t), 30)), vdup_n_s32(1 << 30));  // in (2^29, 2^30]
  // shift_round(p, k) (vrshl by -k; k capped at 63 for the count, as 0 from 31 on anyway).
  const int64x2_t count = vsubq_s64(vdupq_n_s64(0), vreinterpretq_s64_u64(vmovl_u32(vmin_u32(k, vdup_n_u32(63)))));
  const uint32x2_t r = vreinterpret_u32_s32(vmovn_s64(vrshlq_s64(vmovl_s32(p), count)));
  return vand_u32(r, vclt_u32(k, vdup_n_u32(31)));
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  if (simd::caps_dense_q_uses_reference(p)) {
    ref::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, J = q.out_caps, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 4);
  const simd::CapsDenseQScratch s = simd::carve_caps_dense_q(p, 4, scratch);
  simd::pair_inputs(p, u, Ip, s.u_pairs);
  uint32_t* const e_of = reinterpret_cast<uint32_t*>(s.e);  // the exponentials, [J][4] uint32
  // Predictions u_hat[j][d][i] = clamp(requantize(sum_k W u, mult, shift), +-32767): per pair of
  // k, vld2 splits the u pairs into u[.][k] and u[.][k+1]. The tail lanes have u 0 and so hold 0
  // (their W bytes are read from a copy within the row).
  auto row4 = [&](const int8_t* at, int left) {  // 4 bytes of a W row as int16, 0 past I
    int32_t w4 = 0;
    if (left >= 4)
      std::memcpy(&w4, at, 4);
    else
      std::memcpy(&w4, at, static_cast<size_t>(left));
    return vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w4))));
  };
  for (int j = 0; j < J; ++j) {
    const int32x2_t mult = vdup_n_s32(requant[3 * j]);
    const int64x2_t shift = vdupq_n_s64(-int64_t{requant[3 * j + 1]});  // >= 1: vrshl rounds
    for (int d = 0; d < D; ++d) {
      const int8_t* w = weights + (static_cast<size_t>(j) * D + d) * DI * I;
      int16_t* out = s.u_hat + (static_cast<size_t>(j) * D + d) * Ip;
      for (int i0 = 0; i0 < Ip; i0 += 4) {
        int32x4_t acc = vdupq_n_s32(0);
        for (int k = 0; k < DI; k += 2) {
          const int16x4x2_t up = vld2_s16(s.u_pairs + (static_cast<size_t>(k / 2) * Ip + i0) * 2);
          acc = vmlal_s16(acc, row4(w + static_cast<size_t>(k) * I + i0, I - i0), up.val[0]);
          if (k + 1 < DI) acc = vmlal_s16(acc, row4(w + static_cast<size_t>(k + 1) * I + i0, I - i0), up.val[1]);
        }
        const int32x2_t lo = vqmovn_s64(vrshlq_s64(vmull_s32(vget_low_s32(acc), mult), shift));
        const int32x2_t hi = vqmovn_s64(vrshlq_s64(vmull_s32(vget_high_s32(acc), mult), shift));
        const int32x4_t r = vminq_s32(vmaxq_s32(vcombine_s32(lo, hi), vdupq_n_s32(-32767)), vdupq_n_s32(32767));
        vst1_s16(out + i0, vmovn_s32(r));
      }
    }
  }
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;

  // s_j += sum over the block at i0 of c u_hat: each product fits int32 (<= 2^30); the sums are
  // kept in 4 int64 lanes per (j, d). Tail lanes have u_hat 0.
  auto add_share = [&](int j, int i0, int32x4_t c) {
    for (int d = 0; d < D; ++d) {
      const int32x4_t prod =
          vmulq_s32(c, vmovl_s16(vld1_s16(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0)));
      int64_t* lanes = s.S_lanes + (static_cast<size_t>(j) * D + d) * 4;
      vst1q_s64(lanes, vaddw_s32(vld1q_s64(lanes), vget_low_s32(prod)));
      vst1q_s64(lanes + 2, vaddw_s32(vld1q_s64(lanes + 2), vget_high_s32(prod)));
    }
  };
  // The first iteration's V is 0, so every logit is 0 and every coupling the same c0: its
  // logits and exponentials are skipped.
  const int32_t c0 = fx::softmax_q15_uniform(J);

  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D * 4; ++n) s.S_lanes[n] = 0;
    for (int i0 = 0; i0 < Ip; i0 += 4) {
      if (iter == 0) {
        for (int j = 0; j < J; ++j) add_share(j, i0, vdupq_n_s32(c0));
        continue;
      }
      // The logits of this block: b[j] = u_hat[j][.][block] . V[j], shifted to Q16.
      int32x4_t m = vdupq_n_s32(INT32_MIN);
      for (int j = 0; j < J; ++j) {
        int64x2_t lo = vdupq_n_s64(0), hi = vdupq_n_s64(0);
        for (int d = 0; d < D; ++d) {
          const int32x4_t uh = vmovl_s16(vld1_s16(s.u_hat + (static_cast<size_t>(j) * D + d) * Ip + i0));
          lo = vmlal_n_s32(lo, vget_low_s32(uh), s.V[j * D + d]);
          hi = vmlal_n_s32(hi, vget_high_s32(uh), s.V[j * D + d]);
        }
        const int shift = requant[3 * j + 2] - 1;  // >= 0; clamped to int32 as the reference
        const int64x2_t by = vdupq_n_s64(-int64_t{shift});
        const int32x4_t b = vcombine_s32(vqmovn_s64(vrshlq_s64(lo, by)), vqmovn_s64(vrshlq_s64(hi, by)));
        vst1q_s32(s.b + j * 4, b);
        m = vmaxq_s32(m, b);
      }
      // Softmax over the classes, lane by lane (fx::softmax_q15): -x = m - b in [0, 2^32).
      uint64x2_t sum_lo = vdupq_n_u64(0), sum_hi = vdupq_n_u64(0);
      for (int j = 0; j < J; ++j) {
        const int32x4_t b = vld1q_s32(s.b + j * 4);
        const uint32x2_t e_lo = exp_neg_q30(vmovn_u64(vreinterpretq_u64_s64(vsubl_s32(vget_low_s32(m), vget_low_s32(b)))));
        const uint32x2_t e_hi = exp_neg_q30(vmovn_u64(vreinterpretq_u64_s64(vsubl_s32(vget_high_s32(m), vget_high_s32(b)))));
        vst1q_u32(e_of + j * 4, vcombine_u32(e_lo, e_hi));
        sum_lo = vaddw_u32(sum_lo, e_lo);
        sum_hi = vaddw_u32(sum_hi, e_hi);
      }
      uint64_t sums[4], recip[4];
      vst1q_u64(sums, sum_lo);
      vst1q_u64(sums + 2, sum_hi);
      for (int l = 0; l < 4; ++l) recip[l] = (uint64_t{1} << 62) / sums[l];  // <= 2^32
      // e * recip with recip's low and high words apart (the high one is 0 or 1).
      uint32_t r_lo[4], r_hi[4];
      for (int l = 0; l < 4; ++l) {
        r_lo[l] = static_cast<uint32_t>(recip[l]);
        r_hi[l] = static_cast<uint32_t>(recip[l] >> 32);
      }
      const uint32x4_t rl = vld1q_u32(r_lo), rh = vld1q_u32(r_hi);
      for (int j = 0; j < J; ++j) {
        const uint32x4_t e = vld1q_u32(e_of + j * 4);
        const uint64x2_t c_lo = vrshrq_n_u64(vaddq_u64(vmull_u32(vget_low_u32(e), vget_low_u32(rl)),
                                                       vshlq_n_u64(vmull_u32(vget_low_u32(e), vget_low_u32(rh)), 32)),
                                             47);
        const uint64x2_t c_hi = vrshrq_n_u64(vaddq_u64(vmull_u32(vget_high_u32(e), vget_high_u32(rl)),
                                                       vshlq_n_u64(vmull_u32(vget_high_u32(e), vget_high_u32(rh)), 32)),
                                             47);
        add_share(j, i0, vreinterpretq_s32_u32(vcombine_u32(vmovn_u64(c_lo), vmovn_u64(c_hi))));
      }
    }
    simd::end_routing_iteration(p, s, requant, 4, iter, v);
  }
}

}  // namespace neon
}  // namespace capsrt
