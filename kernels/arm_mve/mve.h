// The mve kernel set: int8 kernels for the Cortex-M cores with Helium (ARMv8.1-M MVE: Cortex-M55,
// M85), written with arm_mve.h's intrinsics. Compiled only in builds for such a core
// (CMakeLists.txt) and chosen at compile time, as NEON is. Its float kernels are the reference
// ones; what its own kernels do not cover falls back to the armv7em-dsp set's (these cores have
// the DSP extension too).
#ifndef CAPSRT_KERNELS_ARM_MVE_H
#define CAPSRT_KERNELS_ARM_MVE_H

#include "arm_dsp/dsp.h"
#include "kernel_params.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace mve {

using namespace capsrt::kernels;

// The int8 convolution (conv2d_q.cpp): pixel-major panels of 2 pixels (simd/conv2d_q_pack.h).
constexpr int kConvQPixels = 2;
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size(p.geom, kConvQPixels, simd::PanelLayout::kPixelMajor);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// The CapsDense with low-memory routing (caps_dense_q.cpp): 16 input capsules per block, the
// predictions and their requantisation in vectors. Other configurations (and an I that is not a
// multiple of 16) run the armv7em-dsp set's, which may run the reference.
constexpr int kCapsLanes = 16;
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  uint64_t size[9];
  return caps_blocks::applies<kCapsLanes>(p) ? caps_blocks::parts<kCapsLanes>(p, size)
                                             : dsp::caps_dense_q_scratch_size(p);
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

}  // namespace mve
}  // namespace capsrt

#endif
