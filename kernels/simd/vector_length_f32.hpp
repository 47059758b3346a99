// SIMD capsule lengths, written once over an xsimd arch and instantiated in
// kernels/<isa>/vector_length_f32.cpp. Must match ref::vector_length_f32 within float rounding.
#ifndef CAPSRT_KERNELS_SIMD_VECTOR_LENGTH_F32_HPP
#define CAPSRT_KERNELS_SIMD_VECTOR_LENGTH_F32_HPP

#include <cmath>
#include <xsimd/xsimd.hpp>

namespace capsrt {
namespace simd {

// out[j] = sqrt(sum_d v[j][d]^2 + eps): one vector per capsule (capsules are short and few).
template <class A>
void vector_length_f32(const float* v, float* out, int count, int dim, float eps) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  for (int j = 0; j < count; ++j) {
    const float* vj = v + static_cast<size_t>(j) * dim;
    B acc(0.0f);
    int d = 0;
    for (; d + L <= dim; d += L) {
      const B x = B::load_unaligned(vj + d);
      acc = xsimd::fma(x, x, acc);
    }
    float sum = xsimd::hadd(acc);
    for (; d < dim; ++d) sum += vj[d] * vj[d];
    out[j] = std::sqrt(sum + eps);
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
