// AVX-512F: capsule lengths (kernels/simd/vector_length_f32.hpp); matches ref::vector_length_f32.
#include "x86_avx512/avx512.h"
#include "simd/vector_length_f32.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void vector_length_f32(const float* v, float* out, int count, int dim, float eps) {
  simd::vector_length_f32<Arch>(v, out, count, dim, eps);
}

}  // namespace avx512
}  // namespace capsrt
