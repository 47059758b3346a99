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
inline bool caps_dense_q_applies(const CapsDenseQParams& p) {
  const CapsPredictParams& q = p.predict;
  return p.low_memory && p.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS &&
         q.weight_layout == CAPS_LAYOUT_CAPS_JDKI && q.in_caps % kCapsLanes == 0 && q.out_caps <= 64 &&
         q.out_dim <= 64;
}
// The scratch's parts: V int32 [J, DO], S int64 [J, DO], the transposed inputs [I / 16, DI, 16]
// bytes, a block's predictions int16 [J, DO, 16], couplings and logits int32 [J, 16] and
// exponentials uint32 [J, 16], each rounded up to 64 bytes.
inline uint64_t caps_dense_q_scratch_parts(const CapsDenseQParams& p, uint64_t (&parts)[7]) {
  const CapsPredictParams& q = p.predict;
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim;
  parts[0] = kernels::align_up(jd * 4);
  parts[1] = kernels::align_up(jd * 8);
  parts[2] = kernels::align_up(static_cast<uint64_t>(q.in_caps) * q.in_dim);
  parts[3] = kernels::align_up(jd * kCapsLanes * 2);
  parts[4] = kernels::align_up(static_cast<uint64_t>(q.out_caps) * kCapsLanes * 4);
  parts[5] = parts[4];
  parts[6] = parts[4];
  return parts[0] + parts[1] + parts[2] + parts[3] + parts[4] + parts[5] + parts[6];
}
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  uint64_t parts[7];
  return caps_dense_q_applies(p) ? caps_dense_q_scratch_parts(p, parts) : dsp::caps_dense_q_scratch_size(p);
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

}  // namespace mve
}  // namespace capsrt

#endif
