// AVX2+FMA kernels: declarations and register tiling. The .cpp files beside this header are
// compiled with only this ISA's flags (-mavx2 -mfma) and instantiate the templates of
// kernels/simd/ for xsimd::fma3<xsimd::avx2>; kernels/kernel_sets.cpp puts them in the table.
#ifndef CAPSRT_KERNELS_X86_AVX2_H
#define CAPSRT_KERNELS_X86_AVX2_H

#include "kernel_params.h"
#include "simd/blocking.h"

namespace capsrt {
namespace avx2 {

using namespace capsrt::kernels;

// 16 ymm registers: 6 positions x 2 vectors of 8 channels = 12 accumulators, 2 weight vectors
// and 1 broadcast. 12 independent FMA chains cover the FMA latency (4 cycles) x 2 FMA pipes.
// Measured (capsbench, PrimaryCaps conv): 6x16 89% of peak; 4x24 64%, 3x32 69%, 6x8 46%.
constexpr simd::ConvTiling kConvTiling{6, 16};

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

}  // namespace avx2
}  // namespace capsrt

#endif
