// AVX-512F: the IHWO convolution (kernels/simd/conv2d_f32_ihwo.hpp); matches ref::conv2d_f32.
#include "x86_avx512/avx512.h"
#include "simd/conv2d_f32_ihwo.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out, void* scratch) {
  simd::conv2d_f32_ihwo<Arch, kConvTiling.mr, kConvTiling.nr / 16>(p, in, weights, bias, out, scratch);
}

}  // namespace avx512
}  // namespace capsrt
