// The scratch of the SIMD EM kernels (kernels/simd/em_caps_f32.hpp), in every build (plain
// arithmetic: a tool sizes any set's arena). Those kernels keep the input capsules in the vector
// lanes: every per-input array has I rounded up to kEmLanes entries (zero past I), so that one
// layout serves every ISA (16 lanes of AVX-512, 8 of AVX2, 4 of NEON) with no tail loop:
//  - the transforms, laid out [C, 16, Ip]: element k of W_ic at lane i (shared by the tasks);
//  - per task (one position at a time): the votes [C, 16, Ip], the input poses [16, Ip], the
//    input activations [Ip], and the routing's couplings r [C, Ip], sigma^2 [C, 16], the
//    Gaussians' log normalisers [C] and the couplings' column sums [Ip];
//  - ClassCaps also: the coordinates added to its votes [2, Ip] and the class poses [E, 16].
#ifndef CAPSRT_KERNELS_SIMD_EM_CAPS_SCRATCH_H
#define CAPSRT_KERNELS_SIMD_EM_CAPS_SCRATCH_H

#include "kernel_params.h"

namespace capsrt {
namespace simd {

constexpr uint64_t kEmLanes = 16;  // the widest vector's floats; the unit I is padded to

inline uint64_t em_padded_inputs(uint64_t inputs) { return (inputs + kEmLanes - 1) / kEmLanes * kEmLanes; }

inline uint64_t em_floats_bytes(uint64_t floats) { return kernels::align_up(floats * sizeof(float)); }

// The routing of one position over Ip (padded) inputs and C outputs.
inline uint64_t em_routing_scratch_bytes(uint64_t Ip, uint64_t C) {
  return em_floats_bytes(C * Ip) + em_floats_bytes(C * 16) + em_floats_bytes(C) + em_floats_bytes(Ip);
}

// One position's votes, input poses and activations, and its routing.
inline uint64_t em_position_bytes(uint64_t Ip, uint64_t C) {
  return em_floats_bytes(C * 16 * Ip) + em_floats_bytes(16 * Ip) + em_floats_bytes(Ip) + em_routing_scratch_bytes(Ip, C);
}

inline uint64_t em_conv_caps_inputs(const kernels::EmConvCapsParams& p) {
  return em_padded_inputs(static_cast<uint64_t>(p.kernel) * p.kernel * p.in_types);
}

inline uint64_t em_conv_caps_f32_scratch_size(const kernels::EmConvCapsParams& p) {
  const uint64_t Ip = em_conv_caps_inputs(p), C = static_cast<uint64_t>(p.out_types);
  return em_floats_bytes(C * 16 * Ip) + em_position_bytes(Ip, C) * static_cast<uint64_t>(p.threads < 1 ? 1 : p.threads);
}

inline uint64_t em_class_caps_inputs(const kernels::EmClassCapsParams& p) {
  return em_padded_inputs(static_cast<uint64_t>(p.in_height) * p.in_width * p.in_types);
}

inline uint64_t em_class_caps_f32_scratch_size(const kernels::EmClassCapsParams& p) {
  const uint64_t Ip = em_class_caps_inputs(p), E = static_cast<uint64_t>(p.classes);
  return em_floats_bytes(E * 16 * Ip) + em_position_bytes(Ip, E) + em_floats_bytes(2 * Ip) + em_floats_bytes(E * 16);
}

}  // namespace simd
}  // namespace capsrt

#endif
