// AVX2+FMA: the IHWO convolution (kernels/simd/conv2d_f32_ihwo.hpp); matches ref::conv2d_f32.
#include "x86_avx2/avx2.h"
#include "simd/conv2d_f32_ihwo.hpp"

namespace capsrt {
namespace avx2 {
using Arch = xsimd::fma3<xsimd::avx2>;

void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out, void* scratch) {
  simd::conv2d_f32_ihwo<Arch, kConvTiling.mr, kConvTiling.nr / 8>(p, in, weights, bias, out, scratch);
}

}  // namespace avx2
}  // namespace capsrt
