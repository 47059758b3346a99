// AVX-512F: squash (kernels/simd/squash_f32.hpp); matches ref::squash_f32.
#include "x86_avx512/avx512.h"
#include "simd/squash_f32.hpp"

namespace capsrt {
namespace avx512 {
using Arch = xsimd::avx512f;

void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim) {
  simd::squash_f32<Arch>(p, in, out, count, dim);
}

}  // namespace avx512
}  // namespace capsrt
