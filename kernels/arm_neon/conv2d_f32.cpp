// NEON (aarch64 and armv7 with NEON, chosen at compile time): the IHWO convolution (kernels/simd/conv2d_f32_ihwo.hpp); matches ref::conv2d_f32.
#include "arm_neon/neon.h"
#include "simd/conv2d_f32_ihwo.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out, void* scratch) {
  simd::conv2d_f32_ihwo<Arch, kConvTiling.mr, kConvTiling.nr / 4>(p, in, weights, bias, out, scratch);
}

}  // namespace neon
}  // namespace capsrt
