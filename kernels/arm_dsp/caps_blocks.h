// What the Cortex-M int8 CapsDense kernels with low-memory routing (arm_dsp/ and arm_mve/
// caps_dense_q.cpp) share, in plain C++ (the scratch sizes are known in every build): when they
// apply, and their scratch, for blocks of `kLanes` input capsules.
#ifndef CAPSRT_KERNELS_ARM_DSP_CAPS_BLOCKS_H
#define CAPSRT_KERNELS_ARM_DSP_CAPS_BLOCKS_H

#include <cstdint>

#include "kernel_params.h"

namespace capsrt {
namespace caps_blocks {

// Low-memory routing with softmax over the outputs and JDKI weights, I a multiple of kLanes and
// at most 2^16 (so that a sum of I predictions fits int32).
template <int kLanes>
inline bool applies(const kernels::CapsDenseQParams& p) {
  const kernels::CapsPredictParams& q = p.predict;
  return p.low_memory && p.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS &&
         q.weight_layout == CAPS_LAYOUT_CAPS_JDKI && q.in_caps % kLanes == 0 && q.in_caps <= 65536 && q.out_caps <= 64 &&
         q.out_dim <= 64;
}

// The scratch: V int32 [J, DO] (the sum of the class capsules so far), S int64 [J, DO], the
// inputs transposed by blocks [I / kLanes, DI, kLanes] bytes, a block's predictions int16
// [J, DO, kLanes], couplings and logits int32 [J, kLanes], exponentials uint32 [J, kLanes], the
// sums of the predictions over the input capsules int32 [J, DO] and per-class requantisation
// arguments int32 [J, 4], each rounded up to 64 bytes.
struct Scratch {
  int32_t* V;
  int64_t* S;
  uint8_t* ut;
  int16_t* ph;
  int32_t* c;
  int32_t* b;
  uint32_t* e;
  int32_t* PS;
  int32_t* rq;
};

template <int kLanes>
inline uint64_t parts(const kernels::CapsDenseQParams& p, uint64_t (&size)[9]) {
  const kernels::CapsPredictParams& q = p.predict;
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim, jl = static_cast<uint64_t>(q.out_caps) * kLanes;
  size[0] = kernels::align_up(jd * 4);
  size[1] = kernels::align_up(jd * 8);
  size[2] = kernels::align_up(static_cast<uint64_t>(q.in_caps) * q.in_dim);
  size[3] = kernels::align_up(jd * kLanes * 2);
  size[4] = size[5] = size[6] = kernels::align_up(jl * 4);
  size[7] = kernels::align_up(jd * 4);
  size[8] = kernels::align_up(static_cast<uint64_t>(q.out_caps) * 16);
  uint64_t total = 0;
  for (uint64_t part : size) total += part;
  return total;
}

template <int kLanes>
inline Scratch carve(const kernels::CapsDenseQParams& p, void* scratch) {
  uint64_t size[9];
  parts<kLanes>(p, size);
  uint8_t* at = static_cast<uint8_t*>(scratch);
  Scratch s;
  s.V = reinterpret_cast<int32_t*>(at);
  s.S = reinterpret_cast<int64_t*>(at += size[0]);
  s.ut = at += size[1];
  s.ph = reinterpret_cast<int16_t*>(at += size[2]);
  s.c = reinterpret_cast<int32_t*>(at += size[3]);
  s.b = reinterpret_cast<int32_t*>(at += size[4]);
  s.e = reinterpret_cast<uint32_t*>(at += size[5]);
  s.PS = reinterpret_cast<int32_t*>(at += size[6]);
  s.rq = reinterpret_cast<int32_t*>(at += size[7]);
  return s;
}

}  // namespace caps_blocks
}  // namespace capsrt

#endif
