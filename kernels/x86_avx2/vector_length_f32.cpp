// AVX2+FMA: capsule lengths (kernels/simd/vector_length_f32.hpp); matches ref::vector_length_f32.
#include "x86_avx2/avx2.h"
#include "simd/vector_length_f32.hpp"

namespace capsrt {
namespace avx2 {
using Arch = xsimd::fma3<xsimd::avx2>;

void vector_length_f32(const float* v, float* out, int count, int dim, float eps) {
  simd::vector_length_f32<Arch>(v, out, count, dim, eps);
}

}  // namespace avx2
}  // namespace capsrt
