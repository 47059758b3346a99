// AVX-512F: the fully connected layer (kernels/simd/dense_f32.hpp); matches ref::dense_f32.
#include "x86_avx512/avx512.h"
#include "simd/dense_f32.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out) {
  simd::dense_f32<Arch>(p, in, weights, bias, out);
}

}  // namespace avx512
}  // namespace capsrt
