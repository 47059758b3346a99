// What the SIMD int8 primary squashes (x86_avx2/ and x86_avx512_vnni/primary_squash_q.cpp) share,
// in plain C++: they squash W capsules at once, one per 64-bit lane, and read and write them
// through a block in component-major order, so that component d of the W capsules is one row.
//
// The squash itself is fx::squash_vector_q (the specification, which ref::primary_squash_q
// runs): the ISA files compute its integers with double-precision estimates that integer steps
// then make exact. Why that is exact, step by step:
//  - N = sum s_d^2 < 64 * 2^30 (the inputs are int16), N + 4^F, 2^(2F+31), ratio * 2^30 (< 2^62,
//    a 32-bit integer times a power of two) and D_k are all exact doubles: D_k is the root
//    (< 2^31) plus, when eps is outside the root, eps_q32 2^(k-32) <= eps_q32 / 4, below 2^51
//    when eps_q32 < 2^53 (squash_factor_in_doubles; a model's eps is far smaller, but the
//    format allows up to 2^62, which the reference kernel then squashes);
//  - a correctly rounded quotient q of two exact doubles whose true quotient is below 2^53 has
//    floor(q) = floor(a/b) or floor(a/b) + 1 (rounding is monotone and both integers are
//    doubles); in the second case floor(q) * b > a. The FMA fma(floor(q), b, -a) rounds the
//    exact value floor(q) b - a, an integer of magnitude <= b < 2^53, so it is that value: its
//    sign says which case it is, and one subtraction makes the quotient exact;
//  - the square root's argument (up to 2^62) is not an exact double, but the double root of
//    its nearest double is within 2^-21 of the true root (which is below 2^31), so its floor is
//    floor(sqrt(x)) - 1, floor(sqrt(x)) or floor(sqrt(x)) + 1; r^2 > x and (r+1)^2 <= x, in
//    64-bit integers (r < 2^31), move it to the exact root.
#ifndef CAPSRT_KERNELS_SIMD_PRIMARY_SQUASH_Q_BLOCK_H
#define CAPSRT_KERNELS_SIMD_PRIMARY_SQUASH_Q_BLOCK_H

#include <cstddef>
#include <cstdint>

#include "fixed_point.h"
#include "kernel_params.h"
#include "reference.h"

namespace capsrt {
namespace simd {

// Whether the double-precision steps are exact for this squash (above); if not, the SIMD
// squashes run the reference.
inline bool squash_factor_in_doubles(const fx::SquashQ& sq) {
  return sq.eps_in_sqrt || sq.eps_q32 < (uint64_t{1} << 53);
}

// The factors by the reference (fx::squash_factor) when the double-precision steps do not apply;
// false when they do (the ISA's squash_factors_q then computes them).
inline bool squash_factors_by_reference(const fx::SquashQ& sq, const uint64_t* n, int count, int32_t* k,
                                        int64_t* fac) {
  if (squash_factor_in_doubles(sq)) return false;
  for (int i = 0; i < count; ++i) {
    const fx::SquashFactor f = fx::squash_factor(sq, n[i]);
    k[i] = f.k;
    fac[i] = f.fac;
  }
  return true;
}

// W capsules from first: in[d * W + l] = component d of capsule first + l; capsules past `count`
// are zero vectors (they squash to zero and are not written back).
template <int W>
inline void load_capsule_block(const kernels::PrimarySquashQParams& p, const int16_t* conv_out, int first,
                               int16_t* in) {
  const int dim = p.group.dim;
  const size_t stride = kernels::capsule_component_stride(p.group);
  for (int l = 0; l < W; ++l) {
    if (first + l >= p.count) {
      for (int d = 0; d < dim; ++d) in[d * W + l] = 0;
      continue;
    }
    const int16_t* x = conv_out + kernels::capsule_source_index(p.group, first + l, 0);
    for (int d = 0; d < dim; ++d) in[d * W + l] = x[d * stride];
  }
}

// The squashed block back into the capsule layout [count][dim]: out[d * W + l] is component d of
// capsule first + l.
template <int W>
inline void store_capsule_block(const kernels::PrimarySquashQParams& p, const int8_t* out, int first,
                                int8_t* capsules) {
  const int dim = p.group.dim;
  for (int l = 0; l < W && first + l < p.count; ++l) {
    int8_t* v = capsules + static_cast<size_t>(first + l) * dim;
    for (int d = 0; d < dim; ++d) v[d] = out[d * W + l];
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
