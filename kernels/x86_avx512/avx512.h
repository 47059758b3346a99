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

// 6 positions x 1 vector of 16 channels: 6 zmm accumulators, 1 weight vector, 1 broadcast per
// tap. Chosen by measurement (capsbench, PrimaryCaps conv): on this project's AMD EPYC machines
// a 512-bit FMA occupies both 256-bit FMA pipes (the AVX-512 FMA peak equals the AVX2 one), so 6
// chains issuing every 2 cycles cover the FMA latency, and one 64-byte weight line per tap kept
// the k-block's weights in L1. Wider tiles measured lower: 6x32 75%, 8x32 75%, 6x64 70%, 4x64
// 64% of peak, against 92% for 6x16.
constexpr simd::ConvTiling kConvTiling{6, 16};

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

}  // namespace avx512
}  // namespace capsrt

#endif
