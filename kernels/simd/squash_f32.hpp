// SIMD squash, written once over an xsimd arch (instantiated in kernels/<isa>/squash_f32.cpp).
// Must match ref::squash_f32 within float rounding.
//
// Capsules are short (4, 8 or 16 components) and one vector often holds one or more of them, so
// the norms are not summed across lanes one capsule at a time: a block of L capsules is read
// component by component (component d of capsule n is in[n*D + d], a stride-D gather done with
// scalar loads into a vector), giving L squared norms in one vector; the factors
// |s|^2/(1+|s|^2)/(|s|+eps) are then computed for L capsules at once (sqrt and divide per lane),
// and each capsule is scaled by its factor. Capsules past the last full block use the reference
// formula one by one.
#ifndef CAPSRT_KERNELS_SIMD_SQUASH_F32_HPP
#define CAPSRT_KERNELS_SIMD_SQUASH_F32_HPP

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "kernel_params.h"

namespace capsrt {
namespace simd {

using namespace capsrt::kernels;

inline float squash_factor(const SquashParams& p, float norm2) {
  if (!(norm2 > 0.0f)) return 0.0f;  // the limit at |s| = 0, whatever eps is
  const float denom = p.eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? std::sqrt(norm2 + p.eps)
                                                           : std::sqrt(norm2) + p.eps;
  return norm2 / (1.0f + norm2) / denom;
}

template <class A>
xsimd::batch<float, A> squash_factors(const SquashParams& p, const xsimd::batch<float, A>& norm2) {
  using B = xsimd::batch<float, A>;
  const B one(1.0f), eps(p.eps), zero(0.0f);
  const B denom = p.eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? xsimd::sqrt(norm2 + eps)
                                                        : xsimd::sqrt(norm2) + eps;
  const B f = norm2 / (one + norm2) / denom;
  return xsimd::select(norm2 > zero, f, zero);
}

template <class A>
void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  int n0 = 0;
  alignas(64) float lanes[L];
  alignas(64) float factors[L];
  for (; n0 + L <= count; n0 += L) {
    B norm2(0.0f);
    const float* s = in + static_cast<size_t>(n0) * dim;
    for (int d = 0; d < dim; ++d) {
      for (int l = 0; l < L; ++l) lanes[l] = s[static_cast<size_t>(l) * dim + d];
      const B c = B::load_aligned(lanes);
      norm2 = xsimd::fma(c, c, norm2);
    }
    squash_factors<A>(p, norm2).store_aligned(factors);
    float* v = out + static_cast<size_t>(n0) * dim;
    for (int l = 0; l < L; ++l)
      for (int d = 0; d < dim; ++d) v[l * dim + d] = s[l * dim + d] * factors[l];
  }
  for (int n = n0; n < count; ++n) {
    const float* s = in + static_cast<size_t>(n) * dim;
    float norm2 = 0.0f;
    for (int d = 0; d < dim; ++d) norm2 += s[d] * s[d];
    const float f = squash_factor(p, norm2);
    for (int d = 0; d < dim; ++d) out[static_cast<size_t>(n) * dim + d] = s[d] * f;
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
