// AVX-512 VNNI int8 kernels (vpdpbusd): declarations. The .cpp files beside this header are
// compiled with -mavx512f -mavx512bw -mavx512vnni only; kernels/kernel_sets.cpp puts them in the
// "avx512-vnni" set, which the dispatch picks when the CPU has AVX512_VNNI (and F, BW, DQ).
#ifndef CAPSRT_KERNELS_X86_AVX512_VNNI_H
#define CAPSRT_KERNELS_X86_AVX512_VNNI_H

#include "kernel_params.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx512_vnni {

using namespace capsrt::kernels;

// 4 vectors of 16 output channels x 6 pixels: 24 zmm accumulators, 4 weight vectors, 1 broadcast.
constexpr int kConvQVectors = 4, kConvQPixels = 6;

// Scratch (known in every build): one packed panel, then the per-channel bias correction.
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  const uint64_t panel = static_cast<uint64_t>(simd::conv_q_groups(p.geom)) * 4 * kConvQPixels;
  return (panel + 63) / 64 * 64 + (static_cast<uint64_t>(p.geom.out_channels) * 4 + 63) / 64 * 64;
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

}  // namespace avx512_vnni
}  // namespace capsrt

#endif
