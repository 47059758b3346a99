// NEON (aarch64 and armv7 with NEON, chosen at compile time): capsule lengths (kernels/simd/vector_length_f32.hpp); matches ref::vector_length_f32.
#include "arm_neon/neon.h"
#include "simd/vector_length_f32.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void vector_length_f32(const float* v, float* out, int count, int dim, float eps) {
  simd::vector_length_f32<Arch>(v, out, count, dim, eps);
}

}  // namespace neon
}  // namespace capsrt
