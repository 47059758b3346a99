// NEON int8 CapsDense (predictions and routing, armv7 and aarch64); must match ref::caps_dense_q
// bit for bit.
//
// The predictions, with 4 input capsules per vector: computed once into scratch as
// u_hat[j][d][i] (int16, i fastest; W's CAPS_JDKI layout holds W[j][d][k][i] along i the same
// way, u is rearranged to int16 pairs first, simd/caps_dense_q_common.h). The routing is
// simd/caps_dense_q_routing.h over the lane operations below (4 lanes: the logits with
// vmlal_n_s32 into 64-bit lanes; the exp of arm_neon/fixed_point_neon.h, with vmull for the
// 64-bit products and vrshr/vrshl, which round exactly as fx::shift_round does; the partial sums
// of s_j in 4 int64 lanes per (j, d)). Softmax over the inputs, low-memory routing and row-major
// W run the reference.
#include <arm_neon.h>

#include <cstdint>
#include <cstring>

#include "arm_neon/fixed_point_neon.h"
#include "arm_neon/neon.h"
#include "simd/caps_dense_q_routing.h"

namespace capsrt {
namespace neon {

namespace {

// The lane operations of simd::caps_dense_q_routing: 4 input capsules per block.
struct Lanes {
  static constexpr int kLanes = 4, kSumLanes = 4;
  using I32 = int32x4_t;
  static I32 splat(int32_t x) { return vdupq_n_s32(x); }
  static I32 max(I32 a, I32 b) { return vmaxq_s32(a, b); }
  static I32 load(const int32_t* at) { return vld1q_s32(at); }
  static void store(int32_t* at, I32 x) { vst1q_s32(at, x); }

  // shift >= 0; clamped to int32 as the reference.
  static I32 logits(const int16_t* u_hat, const int32_t* V, int D, int Ip, int i0, int shift) {
    int64x2_t lo = vdupq_n_s64(0), hi = vdupq_n_s64(0);
    for (int d = 0; d < D; ++d) {
      const int32x4_t uh = vmovl_s16(vld1_s16(u_hat + static_cast<size_t>(d) * Ip + i0));
      lo = vmlal_n_s32(lo, vget_low_s32(uh), V[d]);
      hi = vmlal_n_s32(hi, vget_high_s32(uh), V[d]);
    }
    return vcombine_s32(shift_round_clamp32(lo, shift), shift_round_clamp32(hi, shift));
  }

  struct Sums {
    uint64x2_t lo, hi;
  };
  static Sums zero_sums() { return Sums{vdupq_n_u64(0), vdupq_n_u64(0)}; }
  // The exponentials (<= 2^30) kept as 4 uint32 at e; -x = m - b in [0, 2^32).
  static void exps(I32 m, I32 b, int64_t* e, Sums& sums) {
    const uint32x2_t e_lo = exp_neg_q30(vmovn_u64(vreinterpretq_u64_s64(vsubl_s32(vget_low_s32(m), vget_low_s32(b)))));
    const uint32x2_t e_hi = exp_neg_q30(vmovn_u64(vreinterpretq_u64_s64(vsubl_s32(vget_high_s32(m), vget_high_s32(b)))));
    vst1q_u32(reinterpret_cast<uint32_t*>(e), vcombine_u32(e_lo, e_hi));
    sums.lo = vaddw_u32(sums.lo, e_lo);
    sums.hi = vaddw_u32(sums.hi, e_hi);
  }

  // recip (<= 2^32) with its low and high words apart (the high one is 0 or 1).
  struct Recip {
    uint32x4_t lo, hi;
  };
  // floor(2^62 / sum): one integer division per lane.
  static Recip reciprocals(const Sums& s) {
    uint64_t sum[4];
    vst1q_u64(sum, s.lo);
    vst1q_u64(sum + 2, s.hi);
    uint32_t r_lo[4], r_hi[4];
    for (int l = 0; l < 4; ++l) {
      const uint64_t recip = (uint64_t{1} << 62) / sum[l];
      r_lo[l] = static_cast<uint32_t>(recip);
      r_hi[l] = static_cast<uint32_t>(recip >> 32);
    }
    return Recip{vld1q_u32(r_lo), vld1q_u32(r_hi)};
  }
  static I32 couplings(const int64_t* e_at, const Recip& r) {
    const uint32x4_t e = vld1q_u32(reinterpret_cast<const uint32_t*>(e_at));
    const uint64x2_t c_lo = vrshrq_n_u64(vaddq_u64(vmull_u32(vget_low_u32(e), vget_low_u32(r.lo)),
                                                   vshlq_n_u64(vmull_u32(vget_low_u32(e), vget_low_u32(r.hi)), 32)),
                                         47);
    const uint64x2_t c_hi = vrshrq_n_u64(vaddq_u64(vmull_u32(vget_high_u32(e), vget_high_u32(r.lo)),
                                                   vshlq_n_u64(vmull_u32(vget_high_u32(e), vget_high_u32(r.hi)), 32)),
                                         47);
    return vreinterpretq_s32_u32(vcombine_u32(vmovn_u64(c_lo), vmovn_u64(c_hi)));
  }

  static void add_share(I32 c, const int16_t* u_hat, int64_t* S_lanes, int D, int Ip, int i0) {
    for (int d = 0; d < D; ++d) {
      const int32x4_t prod = vmulq_s32(c, vmovl_s16(vld1_s16(u_hat + static_cast<size_t>(d) * Ip + i0)));
      int64_t* lanes = S_lanes + static_cast<size_t>(d) * 4;
      vst1q_s64(lanes, vaddw_s32(vld1q_s64(lanes), vget_low_s32(prod)));
      vst1q_s64(lanes + 2, vaddw_s32(vld1q_s64(lanes + 2), vget_high_s32(prod)));
    }
  }
};

// Predictions u_hat[j][d][i] = clamp(requantize(sum_k W u, mult, shift), +-32767): per pair of
// k, vld2 splits the u pairs into u[.][k] and u[.][k+1]. The tail lanes have u 0 and so hold 0
// (their W bytes are read from a copy within the row).
// For the classes [j0, j1) (a task's share: simd::caps_dense_q_split_classes); a function of its
// own, so that the sizes are locals kept in registers (a lambda's captures were reloaded after
// every store: the small network's int8 CapsDense took 15% longer).
void predict_classes(const CapsDenseQParams& p, const int8_t* weights, const int32_t* requant,
                     const simd::CapsDenseQScratch& s, int j0, int j1) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, DI = q.in_dim, D = q.out_dim, Ip = simd::caps_dense_q_padded(I, 4);
  auto row4 = [&](const int8_t* at, int left) {  // 4 bytes of a W row as int16, 0 past I
    int32_t w4 = 0;
    if (left >= 4)
      std::memcpy(&w4, at, 4);
    else
      std::memcpy(&w4, at, static_cast<size_t>(left));
    return vget_low_s16(vmovl_s8(vreinterpret_s8_s32(vdup_n_s32(w4))));
  };
  for (int j = j0; j < j1; ++j) {
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
}

}  // namespace

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  simd::caps_dense_q_run<Lanes>(p, u, weights, requant, v, scratch, predict_classes);
}

}  // namespace neon
}  // namespace capsrt
