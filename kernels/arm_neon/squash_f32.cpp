// NEON (aarch64 and armv7 with NEON, chosen at compile time): squash (kernels/simd/squash_f32.hpp); matches ref::squash_f32.
#include "arm_neon/neon.h"
#include "simd/squash_f32.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim) {
  simd::squash_f32<Arch>(p, in, out, count, dim);
}

}  // namespace neon
}  // namespace capsrt
