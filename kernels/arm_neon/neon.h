// NEON kernels: declarations and register tiling. The .cpp files beside this header are compiled
// only in ARM builds with NEON (aarch64, or armv7 with -mfpu=neon-vfpv4) and instantiate the
// templates of kernels/simd/ for xsimd's default arch there (neon64 or neon). The choice is made
// at compile time: one set per ARM build ("neon64" or "neon-armv7").
#ifndef CAPSRT_KERNELS_ARM_NEON_H
#define CAPSRT_KERNELS_ARM_NEON_H

#include "kernel_params.h"
#include "simd/blocking.h"

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

}  // namespace neon
}  // namespace capsrt

#endif
