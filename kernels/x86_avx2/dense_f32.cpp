// AVX2+FMA: the fully connected layer (kernels/simd/dense_f32.hpp); matches ref::dense_f32.
#include "x86_avx2/avx2.h"
#include "simd/dense_f32.hpp"

namespace capsrt {
namespace avx2 {
using Arch = xsimd::fma3<xsimd::avx2>;

void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out) {
  simd::dense_f32<Arch>(p, in, weights, bias, out);
}

}  // namespace avx2
}  // namespace capsrt
