// AVX-512 (F and DQ) kernels: declarations and register tiling. The .cpp files beside this header are
// compiled with only this ISA's flags (-mavx512f -mavx512dq -mfma) and instantiate the templates of
// kernels/simd/ for xsimd::avx512f; kernels/kernel_sets.cpp puts them in the table.
#ifndef CAPSRT_KERNELS_X86_AVX512_H
#define CAPSRT_KERNELS_X86_AVX512_H

#include "kernel_params.h"
#include "simd/blocking.h"

namespace capsrt {
namespace avx512 {

using namespace capsrt::kernels;

// The conv's register tile depends on the kind of core (full_width_fma, measured once):
//  - half width (a 512-bit FMA takes both 256-bit pipes, AMD Zen 4): 6 positions x 1 vector of
//    16 channels, 6 zmm accumulators, 1 weight vector and 1 broadcast per tap. The FMA rate is
//    one zmm a cycle, which 6 chains cover, and the k-block's weights (one 64-byte line per
//    tap) stay in L1. Measured on such a core (capsbench, PrimaryCaps conv): 92% of peak, wider
//    tiles lower: 6x32 75%, 8x32 75%, 6x64 70%, 4x64 64%.
//  - full width (two 512-bit FMA pipes, AMD Zen 5): 6 positions x 4 vectors of 16 channels, 24
//    zmm accumulators, 4 weight vectors and 6 broadcasts per tap: 10 loads for 24 FMAs, and
//    24 chains cover the 8 FMAs in flight (latency 4 x 2 pipes) that 6 could not. Measured on
//    such a core (58 and 116 G multiply-adds/s peaks), PrimaryCaps conv / conv1 / canonical
//    network: 6x16 56% / 37% / 49% of peak, 6x32 82% / 65% / 70%, 6x48 79% / 66% / 70%, 6x64
//    87% / 69% / 75%.
// Both tiles give the same bits (each output's FMAs run in the same order); the arena has room
// for the larger scratch.
constexpr simd::ConvTiling kConvTilingHalfWidth{6, 16};
constexpr simd::ConvTiling kConvTilingFullWidth{6, 64};
bool full_width_fma();
// The conv with each tile (conv2d_f32 picks one; the tests run both).
void conv2d_f32_half_width(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                           float* out, void* scratch);
void conv2d_f32_full_width(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                           float* out, void* scratch);
inline uint64_t conv2d_f32_scratch_size(const Conv2DParams& p) {
  const uint64_t half = simd::conv2d_f32_ihwo_scratch_size(p, kConvTilingHalfWidth);
  const uint64_t full = simd::conv2d_f32_ihwo_scratch_size(p, kConvTilingFullWidth);
  return half > full ? half : full;
}

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

}  // namespace avx512
}  // namespace capsrt

#endif
