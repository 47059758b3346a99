// Fixed-point arithmetic of the int8 path: the building blocks every int8 kernel (reference and
// SIMD) uses for the steps that round, so that all of them round the same way and match bit for
// bit. docs/fixed-point.md is the specification; the formats are named Qn: an integer q stands
// for q * 2^-n.
//
// Integer operations only (no float, no double: the int8 path runs on cores without an FPU).
// Every intermediate is bounded as the comments say, so nothing here overflows for inputs in the
// stated ranges; the runtime's validator and capsconv keep the parameters in those ranges.
// Right shifts of negative values are arithmetic (GCC and Clang on every target; C++20 rule).
#ifndef CAPSRT_KERNELS_FIXED_POINT_H
#define CAPSRT_KERNELS_FIXED_POINT_H

#include <cstdint>

#include "fixed_point_exp2.h"

namespace capsrt {
namespace fx {

// round(x / 2^shift), ties toward +infinity; shift in [0, 62], |x| < 2^62.
inline int64_t shift_round(int64_t x, int shift) {
  return shift == 0 ? x : (x + (int64_t{1} << (shift - 1))) >> shift;
}

inline int32_t clamp32(int64_t x, int32_t lo, int32_t hi) {
  return x < lo ? lo : x > hi ? hi : static_cast<int32_t>(x);
}

// The one requantisation of the int8 path: acc * (mult * 2^-shift), rounded as shift_round.
// A real multiplier m is stored as mult in [2^30, 2^31) and shift in [1, 62] with
// m = mult * 2^-shift (capsconv computes them). |acc| < 2^31, so the product is below 2^62.
// The caller adds its zero point and clamps.
inline int64_t requantize(int32_t acc, int32_t mult, int32_t shift) {
  return shift_round(static_cast<int64_t>(acc) * mult, shift);
}

// floor(sqrt(x)), exactly, for any 64-bit x, with no float. Two loops that give the same root,
// each the faster where it is used:
//  - 64-bit cores: digit by digit on 64-bit words (a chain of subtractions and shifts; the
//    other loop's chain of multiplies made the int8 squash 1.4 times as slow on x86-64);
//  - 32-bit cores: the root's bits from the highest down, each kept when its square stays
//    within x, one UMULL a bit (the 64-bit words' loop took 3 times as long on a Cortex-M4).
inline uint32_t isqrt64(uint64_t x) {
#if UINTPTR_MAX > 0xFFFFFFFFu
  uint64_t root = 0;
  uint64_t bit = uint64_t{1} << 62;
  while (bit > x) bit >>= 2;
  while (bit != 0) {
    if (x >= root + bit) {
      x -= root + bit;
      root = (root >> 1) + bit;
    } else {
      root >>= 1;
    }
    bit >>= 2;
  }
  return static_cast<uint32_t>(root);
#else
  if (x == 0) return 0;
  uint32_t root = 0;
  for (int b = (63 - __builtin_clzll(x)) / 2; b >= 0; --b) {
    const uint32_t c = root | (uint32_t{1} << b);
    if (static_cast<uint64_t>(c) * c <= x) root = c;
  }
  return root;
#endif
}

// e^x for x <= 0 given in Q16 (x >= -2^32), in Q30: at most 2^30, exactly 2^30 at x = 0.
// e^x = 2^(x log2 e) = 2^-k * 2^-t, k integer, t in [0,1); 2^-t by a degree-6 polynomial with
// p(0) = 1 (tools/quant/exp2_coefficients.py made the coefficients; its worst error on the Q16
// grid is 7.1e-9), evaluated by Horner in Q30.
inline int64_t exp_neg_q30(int64_t x_q16) {
  const int64_t z = shift_round(-x_q16 * kLog2eQ30, 30);  // -x log2(e) in Q16, >= 0, < 2^33
  const int64_t k = z >> 16;
  if (k >= 31) return 0;
  const int64_t t = (z & 0xFFFF) << 14;  // Q30, in [0, 2^30)
  const int32_t* a = kExp2Q30;  // fixed_point_exp2.h
  int64_t p = a[5];
  for (int n = 4; n >= 0; --n) p = shift_round(p * t, 30) + a[n];
  p = (int64_t{1} << 30) + shift_round(p * t, 30);  // 2^-t in Q30, in (2^29, 2^30]
  return shift_round(p, static_cast<int>(k));
}

// Softmax of `count` logits in Q16 (read with stride `stride`), into Q15 probabilities (0..2^15,
// written with the same stride): c = e_j / sum e, e_j = exp_neg_q30(b_j - max b), the division
// done once as a Q62 reciprocal. `count` <= 2^31.
inline void softmax_q15(const int32_t* logits, int count, int stride, int32_t* out) {
  int32_t m = logits[0];
  for (int j = 1; j < count; ++j)
    if (logits[j * stride] > m) m = logits[j * stride];
  uint64_t sum = 0;  // >= 2^30 (the max term), < 2^61
  for (int j = 0; j < count; ++j)
    sum += static_cast<uint64_t>(exp_neg_q30(int64_t{logits[j * stride]} - m));
  const uint64_t recip = (uint64_t{1} << 62) / sum;  // <= 2^32
  for (int j = 0; j < count; ++j) {
    const uint64_t e = static_cast<uint64_t>(exp_neg_q30(int64_t{logits[j * stride]} - m));
    out[j * stride] = static_cast<int32_t>((e * recip + (uint64_t{1} << 46)) >> 47);
  }
}

// What softmax_q15 gives each of `count` equal logits (the first routing iteration's couplings,
// where every logit is 0): its own steps, with every exponential exp_neg_q30(0).
inline int32_t softmax_q15_uniform(int count) {
  const uint64_t e = static_cast<uint64_t>(exp_neg_q30(0));
  const uint64_t recip = (uint64_t{1} << 62) / (e * static_cast<uint64_t>(count));
  return static_cast<int32_t>((e * recip + (uint64_t{1} << 46)) >> 47);
}

// Squash parameters in integer form (capsconv computes them from the float ones).
struct SquashQ {
  int32_t in_frac;   // F: the input is s * 2^-F, F in [0, 16], |s| <= 2^24
  int32_t out_frac;  // G: the output is v * 2^-G, G in [0, 15]
  int32_t eps_in_sqrt;  // 0: v = s |s|^2/(1+|s|^2) / (|s| + eps); 1: ... / sqrt(|s|^2 + eps)
  uint64_t eps_q32;  // eps * 2^F * 2^32 (|s| + eps), or eps * 4^F * 2^32 (sqrt), rounded; < 2^64
};

// A squashed component, shift_round(t fac, 61 - G) for |t| < 2^31, 0 <= fac < 2^31, G in
// [0, 15], in 32-bit words: the shift is 46 or more, so the rounding term 2^(60-G) lies in the
// high word of the product and its low word cannot reach the result: (high + 2^(28-G)) >> (29-G).
inline int32_t squash_component(int32_t t, int32_t fac, int32_t out_frac) {
  const int32_t high = static_cast<int32_t>(static_cast<uint64_t>(int64_t{t} * fac) >> 32);
  return (high + (int32_t{1} << (28 - out_frac))) >> (29 - out_frac);
}

// The factor of a squash: for a vector of squared length n > 0 (in integer units of s; < 2^54),
// v_d = shift_round((s_d 2^k) fac, 61 - G). In integer units of s:
//   ratio = n / (n + 4^F) = |s|^2 / (1 + |s|^2), in Q31
//   D = sqrt(n) + eps 2^F, or sqrt(n + eps 4^F): the denominator; D_k = D * 2^k, with k chosen
//       so that the square root's argument lies in [2^60, 2^62) (D_k in [2^30, 2^47))
//   fac = ratio 2^30 / D_k (< 2^31), so that v_d = s_d ratio / D = (s_d 2^k) fac / 2^(61-G)
struct SquashFactor {
  int k;        // in [3, 30]
  int64_t fac;  // in [0, 2^31)
};

inline SquashFactor squash_factor(const SquashQ& p, uint64_t n) {
  const int F = p.in_frac;
  const uint64_t four_f = uint64_t{1} << (2 * F);
  const uint64_t ratio = (uint64_t{1} << 31) - (uint64_t{1} << (2 * F + 31)) / (n + four_f);
  // An upper bound of the square root's argument picks k: the largest with bound * 4^k < 2^62.
  const uint64_t bound = p.eps_in_sqrt ? n + (p.eps_q32 >> 32) + 1 : n;
  const int bits = 64 - __builtin_clzll(bound);  // bound >= n > 0
  const int k = (62 - bits) / 2;  // in [3, 30]
  uint64_t x = n << (2 * k);
  if (p.eps_in_sqrt)
    x += 2 * k >= 32 ? p.eps_q32 << (2 * k - 32) : p.eps_q32 >> (32 - 2 * k);
  uint64_t dk = isqrt64(x);
  if (!p.eps_in_sqrt) dk += static_cast<uint64_t>(shift_round(static_cast<int64_t>(p.eps_q32), 32 - k));
  return SquashFactor{k, static_cast<int64_t>((ratio << 30) / dk)};
}

// Squashes one vector of `dim` (<= 64) components s (Q F, |s_d| <= 2^24) into v (Q G), clamped
// to [-out_max, out_max], by squash_factor. Every product stays below 2^62 (|s_d| 2^k <=
// sqrt(n 4^k) < 2^31). A zero vector gives zero.
template <typename Out>
inline void squash_vector_q(const SquashQ& p, const int32_t* s, int dim, int32_t out_max, Out* v) {
  uint64_t n = 0;
  for (int d = 0; d < dim; ++d) n += static_cast<uint64_t>(int64_t{s[d]} * s[d]);
  if (n == 0) {
    for (int d = 0; d < dim; ++d) v[d] = 0;
    return;
  }
  const SquashFactor f = squash_factor(p, n);
  for (int d = 0; d < dim; ++d) {
    const int64_t t = static_cast<int64_t>(s[d]) * (int64_t{1} << f.k);  // |t| < 2^31
#if UINTPTR_MAX > 0xFFFFFFFFu
    const int64_t r = shift_round(t * f.fac, 61 - p.out_frac);
#else  // the same in 32-bit words (faster on a Cortex-M4; 1.7 times as slow on x86-64)
    const int32_t r = squash_component(static_cast<int32_t>(t), static_cast<int32_t>(f.fac), p.out_frac);
#endif
    v[d] = static_cast<Out>(clamp32(r, -out_max, out_max));
  }
}

// The end of a routing iteration for one class j (docs/fixed-point.md, "Routing"): s_j, summed in
// 64 bits in Q(15 + F_u[j]), moved to the squash's input format by `shift` (15 + F_u - F_s >= 0)
// and clamped to 2^24, squashed into v_j (Q15); V_j += v_j when `accumulate` (every iteration
// but the last). dim <= 64.
inline void routing_squash_q(const SquashQ& p, const int64_t* s, int dim, int shift, bool accumulate,
                             int16_t* v, int32_t* V) {
  int32_t sj[64];
  for (int d = 0; d < dim; ++d) sj[d] = clamp32(shift_round(s[d], shift), -(1 << 24), 1 << 24);
  squash_vector_q(p, sj, dim, 32767, v);
  if (accumulate)
    for (int d = 0; d < dim; ++d) V[d] += v[d];
}

// round(255 / (1 + e^-x)) for a logit x in Q16: a reconstruction pixel, 0..255.
inline int32_t sigmoid_pixel(int32_t x_q16) {
  const int64_t one = int64_t{1} << 30;
  const int64_t e = exp_neg_q30(x_q16 >= 0 ? -int64_t{x_q16} : int64_t{x_q16});  // e^-|x|
  const int64_t num = x_q16 >= 0 ? one : e, den = one + e;  // sigmoid = num / den
  return static_cast<int32_t>((num * 255 + den / 2) / den);
}

// sqrt(|v|^2 + eps) of v in Q15, in Q15; eps_q30 = eps * 2^30, rounded.
inline int32_t length_q15(const int16_t* v, int dim, uint32_t eps_q30) {
  uint64_t n = eps_q30;
  for (int d = 0; d < dim; ++d) n += static_cast<uint64_t>(int32_t{v[d]} * v[d]);
  return static_cast<int32_t>(isqrt64(n));
}

}  // namespace fx
}  // namespace capsrt

#endif
