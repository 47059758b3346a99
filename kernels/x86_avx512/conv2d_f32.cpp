// AVX-512F: the IHWO convolution (kernels/simd/conv2d_f32_ihwo.hpp), with the tile of this kind of
// core (avx512.h); matches ref::conv2d_f32.
#include "x86_avx512/avx512.h"
#include "simd/conv2d_f32_ihwo.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void conv2d_f32_half_width(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                           float* out, void* scratch) {
  simd::conv2d_f32_ihwo<Arch, kConvTilingHalfWidth.mr, kConvTilingHalfWidth.nr / 16>(p, in, weights, bias, out, scratch);
}

void conv2d_f32_full_width(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                           float* out, void* scratch) {
  simd::conv2d_f32_ihwo<Arch, kConvTilingFullWidth.mr, kConvTilingFullWidth.nr / 16>(p, in, weights, bias, out, scratch);
}

// The tile for this core (avx512.h).
void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out, void* scratch) {
  if (full_width_fma())
    conv2d_f32_full_width(p, in, weights, bias, out, scratch);
  else
    conv2d_f32_half_width(p, in, weights, bias, out, scratch);
}

}  // namespace avx512
}  // namespace capsrt
