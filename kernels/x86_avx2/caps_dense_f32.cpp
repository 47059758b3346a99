// AVX2+FMA: the u_hat transform and dynamic routing (kernels/simd/caps_dense_f32.hpp); matches ref::caps_predict_f32 + ref::dynamic_routing_f32.
#include "x86_avx2/avx2.h"
#include "simd/caps_dense_f32.hpp"

namespace capsrt {
namespace avx2 {
using Arch = xsimd::fma3<xsimd::avx2>;

void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch) {
  simd::caps_dense_f32<Arch>(p, u, weights, v, scratch);
}

}  // namespace avx2
}  // namespace capsrt
