// NEON (aarch64 and armv7 with NEON, chosen at compile time): the u_hat transform and dynamic routing (kernels/simd/caps_dense_f32.hpp); matches ref::caps_predict_f32 + ref::dynamic_routing_f32.
#include "arm_neon/neon.h"
#include "simd/caps_dense_f32.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch) {
  simd::caps_dense_f32<Arch>(p, u, weights, v, scratch);
}

}  // namespace neon
}  // namespace capsrt
