// Steps of the int8 path (fixed_point.h) written for a 32-bit core: each gives exactly what
// the fixed_point.h function it names gives, over the stated domain, with 32 x 32 -> 64
// multiplies and no 64-bit shift by a variable amount (which GCC expands into a dozen
// instructions on ARMv7-M). Plain C++: tests/test_fixed_point.cpp checks them against
// fixed_point.h on the host; the armv7em-dsp CapsDense (caps_dense_q.cpp) uses them.
#ifndef CAPSRT_KERNELS_ARM_DSP_ROUTING_Q32_H
#define CAPSRT_KERNELS_ARM_DSP_ROUTING_Q32_H

#include <cstdint>

#include "fixed_point.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace fx {

// (a b + 2^31) >> 32 for int32 a, b: SMMULR, the DSP extension's rounding high multiply (one
// instruction), or the same in 64 bits off the device.
inline int32_t smmulr(int32_t a, int32_t b) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
  return r;
#else
  return static_cast<int32_t>((static_cast<int64_t>(a) * b + (int64_t{1} << 31)) >> 32);
#endif
}

// ((a b) >> 32) + c for int32 a, b, c: SMMLA, the high word of the product plus c (one
// instruction), or the same in 64 bits off the device.
inline int32_t smmla(int32_t a, int32_t b, int32_t c) {
#if defined(__ARM_FEATURE_DSP)
  int32_t r;
  __asm("smmla %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
  return r;
#else
  return static_cast<int32_t>(static_cast<uint32_t>((static_cast<int64_t>(a) * b) >> 32) + static_cast<uint32_t>(c));
#endif
}

// fx::exp_neg_q30(-u) for u = -x in [0, 2^32): the same steps on 32-bit words. -x log2(e) is an
// unsigned 32 x 32 product (UMULL). Each Horner step of the reference, p' = ((p t + 2^29) >> 30)
// + a_n with p in Q30 and t = (z mod 2^16) 2^14, is SMMULR(2p, 2t) + a_n exactly: the product is
// the same, scaled by 4, and the rounding term with it. The loop keeps P = 2p, so a step is one
// SMMULR and one add of 2 a_n (the reference's p stays within +-2^30 for every t: all 2^16 are
// checked by tests/test_fixed_point.cpp). At the end p lies in (2^29, 2^30], and the shift by k
// is 32-bit.
inline uint32_t exp_neg_q30_u32(uint32_t u) {
  const uint64_t z = (static_cast<uint64_t>(u) * static_cast<uint64_t>(fx::kLog2eQ30) + (uint64_t{1} << 29)) >> 30;
  if (z >= (uint64_t{31} << 16)) return 0;  // k >= 31
  const uint32_t zl = static_cast<uint32_t>(z);
  const int k = static_cast<int>(zl >> 16);
  const int32_t t2 = static_cast<int32_t>((zl & 0xFFFFu) << 15);  // 2t < 2^31
  int32_t P = 2 * fx::kExp2Q30[5];
#if defined(__ARM_FEATURE_DSP)
  // The five steps as ten instructions: GCC 12 would add each constant in three and shift apart.
  int32_t x;
  __asm("smmulr %[x], %[P], %[t]\n\tadd %[P], %[c4], %[x], lsl #1\n\t"
        "smmulr %[x], %[P], %[t]\n\tadd %[P], %[c3], %[x], lsl #1\n\t"
        "smmulr %[x], %[P], %[t]\n\tadd %[P], %[c2], %[x], lsl #1\n\t"
        "smmulr %[x], %[P], %[t]\n\tadd %[P], %[c1], %[x], lsl #1\n\t"
        "smmulr %[x], %[P], %[t]\n\tadd %[P], %[c0], %[x], lsl #1"
        : [P] "+&r"(P), [x] "=&r"(x)
        : [t] "r"(t2), [c4] "r"(2 * fx::kExp2Q30[4]), [c3] "r"(2 * fx::kExp2Q30[3]), [c2] "r"(2 * fx::kExp2Q30[2]),
          [c1] "r"(2 * fx::kExp2Q30[1]), [c0] "r"(2 * fx::kExp2Q30[0]));
#else
  for (int n = 4; n >= 0; --n) P = 2 * smmulr(P, t2) + 2 * fx::kExp2Q30[n];
#endif
  const uint32_t q = (uint32_t{1} << 30) + static_cast<uint32_t>(smmulr(P, t2));
  return k == 0 ? q : (q + (uint32_t{1} << (k - 1))) >> k;
}

// fx::clamp32(fx::shift_round(dot, f_u - 1), INT32_MIN, INT32_MAX) for a logit's 64-bit dot
// product with |dot| < 2^42 (Q(F_u + 15), docs/fixed-point.md): with a shift of 12 to 31 the
// result fits 32 bits, so no clamp, and it is the two words' bits; other shifts take the
// reference's steps.
struct LogitShift {
  int shift;
  explicit LogitShift(int32_t f_u) : shift(f_u - 1) {}
  int32_t operator()(int64_t dot) const {
    if (shift < 12 || shift > 31) return clamp32(shift_round(dot, shift), INT32_MIN, INT32_MAX);
    const uint64_t t = static_cast<uint64_t>(dot) + (uint64_t{1} << (shift - 1));
    return static_cast<int32_t>((static_cast<uint32_t>(t) >> shift) |
                                (static_cast<uint32_t>(t >> 32) << (32 - shift)));
  }
};

// clamp32(requantize(acc, mult, shift), lo, hi) (fixed_point.h) for any acc, mult in
// [2^30, 2^31), shift in [1, 62] and lo <= hi, in 32-bit words. Above 32 the rounding term
// 2^(shift-1) has a zero low word, so it adds 2^(shift-33) to the product's high word (SMMLA),
// whose low word cannot reach the result; at 32 it is SMMULR's rounding; below 32 the result is
// the two words' bits when the high word's shifted value says it fits, else it saturates by its
// sign. The product never passes 2^62, so the high word plus the term fits 32 bits.
struct Requant32 {
  int32_t mult;
  int shift;
  Requant32(int32_t m, int32_t s) : mult(m), shift(s) {}
  int32_t operator()(int32_t acc, int32_t lo, int32_t hi) const {
    int32_t r;
    if (shift >= 33) {
      r = smmla(acc, mult, int32_t{1} << (shift - 33)) >> (shift - 32);
    } else if (shift == 32) {
      r = smmulr(acc, mult);
    } else {
      const uint64_t t = static_cast<uint64_t>(static_cast<int64_t>(acc) * mult) + (uint64_t{1} << (shift - 1));
      const uint32_t t_lo = static_cast<uint32_t>(t);
      const int32_t t_hi = static_cast<int32_t>(static_cast<uint32_t>(t >> 32));
      const int32_t r_lo = static_cast<int32_t>((t_lo >> shift) | (static_cast<uint32_t>(t_hi) << (32 - shift)));
      const int32_t r_hi = t_hi >> shift;  // the result's high word: the sign of r_lo when it fits
      r = r_hi == (r_lo >> 31) ? r_lo : r_hi < 0 ? INT32_MIN : INT32_MAX;
    }
    return r < lo ? lo : r > hi ? hi : r;
  }
};

// A convolution tile's epilogue (simd/conv2d_q_pack.h's run_conv_q): raw sums y[m][n][l] of
// channel o0 + L m + l become outputs, bias (the table's offset, added modulo 2^32 as the sums
// are exact) and requantisation by the table's mult and shift, clamped to the op's range.
template <int MR, int NR, int L>
inline void requantise_conv_tile(const kernels::Conv2DQParams& p, const simd::ConvQScratch& s, int o0,
                                 int32_t (&y)[MR][NR][L]) {
  for (int m = 0; m < MR; ++m)
    for (int n = 0; n < NR; ++n)
      for (int l = 0; l < L; ++l) {
        const int o = o0 + L * m + l;  // the table covers every lane
        const int32_t sum = static_cast<int32_t>(static_cast<uint32_t>(y[m][n][l]) + static_cast<uint32_t>(s.offset[o]));
        y[m][n][l] = Requant32(s.mult[o], s.shift[o])(sum, p.out_min, p.out_max);
      }
}

}  // namespace fx
}  // namespace capsrt

#endif
