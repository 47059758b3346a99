// NEON (aarch64 and armv7 with NEON, chosen at compile time): the fully connected layer (kernels/simd/dense_f32.hpp); matches ref::dense_f32.
#include "arm_neon/neon.h"
#include "simd/dense_f32.hpp"

namespace capsrt {
namespace neon {
using Arch = xsimd::default_arch;  // neon64 on aarch64, neon on armv7

void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out) {
  simd::dense_f32<Arch>(p, in, weights, bias, out);
}

}  // namespace neon
}  // namespace capsrt
