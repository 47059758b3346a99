// AVX2+FMA: squash (kernels/simd/squash_f32.hpp); matches ref::squash_f32.
#include "x86_avx2/avx2.h"
#include "simd/squash_f32.hpp"

namespace capsrt {
namespace avx2 {
using Arch = xsimd::fma3<xsimd::avx2>;

void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim) {
  simd::squash_f32<Arch>(p, in, out, count, dim);
}

}  // namespace avx2
}  // namespace capsrt
