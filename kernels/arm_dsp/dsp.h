// The armv7em-dsp kernel set: int8 kernels for the Cortex-M cores with the DSP extension
// (ARMv7E-M: Cortex-M4, M7; ARMv8-M Mainline with DSP: M33, M55), written with ACLE's SIMD32
// intrinsics (SMLAD: two 16 x 16 multiply-accumulates in one instruction; SXTB16: two int8
// lanes widened to int16). The .cpp files beside this header are compiled only in builds for
// such a core (CMakeLists.txt); the set is then chosen at compile time, as NEON is. The float
// kernels of the set are the reference ones (the FPU runs them).
#ifndef CAPSRT_KERNELS_ARM_DSP_H
#define CAPSRT_KERNELS_ARM_DSP_H

#include "arm_dsp/caps_blocks.h"
#include "kernel_params.h"
#include "reference.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace dsp {

using namespace capsrt::kernels;

// The int8 convolution (conv2d_q.cpp): panels of 2 pixels, interleaved (simd/conv2d_q_pack.h),
// and the same panel widened to int16 pairs (4 bytes per input).
constexpr int kConvQPixels = 2;
inline uint64_t conv2d_q_wide_panel_bytes(const Conv2DQParams& p) {
  return kernels::align_up(static_cast<uint64_t>(simd::conv_q_chunk_groups(p.geom)) * 4 * kConvQPixels * 2);
}
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size(p.geom, kConvQPixels, simd::PanelLayout::kInterleaved) +
         conv2d_q_wide_panel_bytes(p);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// The CapsDense with low-memory routing (caps_dense_q.cpp): 4 input capsules per block (one
// word). Stored predictions, softmax over the inputs, row-major W and an I that is not a multiple
// of 4 run the reference, and take its scratch.
constexpr int kCapsLanes = 4;
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  uint64_t size[9];
  return caps_blocks::applies<kCapsLanes>(p) ? caps_blocks::parts<kCapsLanes>(p, size)
                                             : ref::caps_dense_q_scratch_size(p);
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

}  // namespace dsp
}  // namespace capsrt

#endif
