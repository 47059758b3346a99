// The scratch of the SIMD EM kernels (kernels/simd/em_caps_f32.hpp), in every build (plain
// arithmetic: a tool sizes any set's arena): the transform matrices tiled for the vote products,
// then what the reference kernels use (one position's votes, the input activations, the poses of
// the class capsules, the routing's couplings and sums).
#ifndef CAPSRT_KERNELS_SIMD_EM_CAPS_SCRATCH_H
#define CAPSRT_KERNELS_SIMD_EM_CAPS_SCRATCH_H

#include "reference.h"

namespace capsrt {
namespace simd {

// Each 4x4 transform W (16 floats) becomes 4 rows of 16: row q holds W's row q four times, so
// that one vector load of it lines up with every row of the vote (em_caps_f32.hpp).
constexpr uint64_t kEmTileFloats = 64;

// ConvCaps: the tiled transforms (shared by the tasks), then one slot per task (the reference's).
inline uint64_t em_conv_caps_f32_scratch_size(const kernels::EmConvCapsParams& p) {
  const uint64_t transforms = static_cast<uint64_t>(p.kernel) * p.kernel * p.in_types * p.out_types;
  return kernels::align_up(transforms * kEmTileFloats * sizeof(float)) + ref::em_conv_caps_f32_scratch_size(p);
}

inline uint64_t em_class_caps_f32_scratch_size(const kernels::EmClassCapsParams& p) {
  const uint64_t transforms = static_cast<uint64_t>(p.in_types) * p.classes;
  return kernels::align_up(transforms * kEmTileFloats * sizeof(float)) + ref::em_class_caps_f32_scratch_size(p);
}

}  // namespace simd
}  // namespace capsrt

#endif
