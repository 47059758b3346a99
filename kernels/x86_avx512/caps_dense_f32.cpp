// AVX-512F: the u_hat transform and dynamic routing (kernels/simd/caps_dense_f32.hpp); matches ref::caps_predict_f32 + ref::dynamic_routing_f32.
#include "x86_avx512/avx512.h"
#include "simd/caps_dense_f32.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch) {
  simd::caps_dense_f32<Arch>(p, u, weights, v, scratch);
}

}  // namespace avx512
}  // namespace capsrt
