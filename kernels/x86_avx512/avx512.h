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

// 32 zmm registers: 6 positions x 2 vectors of 16 channels = 12 accumulators, 2 weight vectors
// and 1 broadcast; 12 independent FMA chains cover the FMA latency x 2 FMA pipes.
constexpr simd::ConvTiling kConvTiling{6, 32};

inline size_t conv2d_f32_scratch_size(const Conv2DParams& p) {
  return simd::conv2d_f32_ihwo_scratch_size(p, kConvTiling);
}

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

}  // namespace avx512
}  // namespace capsrt

#endif
