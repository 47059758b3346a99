// NEON kernels: declarations and register tiling. The .cpp files beside this header are compiled
// only in ARM builds with NEON (aarch64, or armv7 with -mfpu=neon-vfpv4) and instantiate the
// templates of kernels/simd/ for xsimd's default arch there (neon64 or neon). The choice is made
// at compile time: one set per ARM build ("neon64" or "neon-armv7").
#ifndef CAPSRT_KERNELS_ARM_NEON_H
#define CAPSRT_KERNELS_ARM_NEON_H

#include "kernel_params.h"
#include "reference.h"
#include "simd/blocking.h"
#include "simd/caps_dense_q_common.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace neon {

using namespace capsrt::kernels;

// aarch64, 32 q registers: 6 positions x 4 vectors of 4 channels = 24 accumulators, 4 weight
// vectors and 1 broadcast.
constexpr simd::ConvTiling kConvTilingNeon64{6, 16};
// armv7, 16 q registers: 6 positions x 2 vectors of 4 channels = 12 accumulators, 2 weight
// vectors and 1 broadcast.
constexpr simd::ConvTiling kConvTilingArmv7{6, 8};
#if defined(__aarch64__)
constexpr simd::ConvTiling kConvTiling = kConvTilingNeon64;
#else
constexpr simd::ConvTiling kConvTiling = kConvTilingArmv7;
#endif

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

// The int8 convolution: conv2d_q.cpp (vmull_s8 + vpadal, armv7 and aarch64) or, in a build for
// armv8.2-a+dotprod, conv2d_q_dot.cpp (sdot). Both pack panels of 4 pixels; the scratch
// (simd/conv2d_q_pack.h's) is known in every build.
constexpr int kConvQPixels = 4;
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size_threads(p.geom, kConvQPixels, simd::PanelLayout::kInterleaved);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);
void conv2d_q_dot(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
                  const int32_t* requant, void* out, void* scratch);

// CapsDense (caps_dense_q.cpp): predictions and routing with 4 input capsules in the lanes.
// Its scratch (every build) and when it runs the reference: simd/caps_dense_q_common.h.
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  return simd::caps_dense_q_scratch_size(p, 4, 4);
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

}  // namespace neon
}  // namespace capsrt

#endif
