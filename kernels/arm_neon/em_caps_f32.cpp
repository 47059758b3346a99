// NEON (aarch64, or armv7 with NEON): the EM capsule layers (PrimaryCaps; ConvCaps and ClassCaps: votes and routing) (kernels/simd/em_caps_f32.hpp); matches
// ref::em_primary_caps_f32, ref::em_conv_caps_f32 and ref::em_class_caps_f32.
#include "arm_neon/neon.h"
#include "simd/em_caps_f32.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void em_primary_caps_f32(const EmPrimaryCapsParams& p, const float* in, const float* weights, const float* bias,
                         float* out) {
  simd::em_primary_caps_f32<Arch>(p, in, weights, bias, out);
}

void em_conv_caps_f32(const EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch) {
  simd::em_conv_caps_f32<Arch>(p, in, weights, beta_u, beta_a, out, scratch);
}

void em_class_caps_f32(const EmClassCapsParams& p, const float* in, const float* weights, const float* beta_u,
                       const float* beta_a, float* activations, float* poses, void* scratch) {
  simd::em_class_caps_f32<Arch>(p, in, weights, beta_u, beta_a, activations, poses, scratch);
}

}  // namespace neon
}  // namespace capsrt
