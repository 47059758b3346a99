// AVX-512 VNNI int8 kernels (vpdpbusd): declarations. The .cpp files beside this header are
// compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni only;
// kernels/kernel_sets.cpp puts them in the "avx512-vnni" set, which the dispatch picks when the
// CPU has AVX512_VNNI (and F, BW, DQ, VL).
#ifndef CAPSRT_KERNELS_X86_AVX512_VNNI_H
#define CAPSRT_KERNELS_X86_AVX512_VNNI_H

#include "kernel_params.h"
#include "reference.h"
#include "simd/caps_dense_q_common.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx512_vnni {

using namespace capsrt::kernels;

// 4 vectors of 16 output channels x 6 pixels: 24 zmm accumulators, 4 weight vectors, 1 broadcast.
constexpr int kConvQVectors = 4, kConvQPixels = 6;

// Scratch (known in every build): simd/conv2d_q_pack.h's, for panels of 6 pixels.
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size_threads(p.geom, kConvQPixels, simd::PanelLayout::kPixelMajor);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// CapsDense (caps_dense_q.cpp): predictions and routing with input capsules in the lanes.
// Its scratch (every build) and when it runs the reference: simd/caps_dense_q_common.h.
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  return simd::caps_dense_q_scratch_size(p, 16, 8);
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

// ref::primary_squash_q's integers, several capsules at a time; squash_factors_q is its
// fx::squash_factor step alone (for tests): k and fac of `count` squared lengths (< 2^37).
void primary_squash_q(const PrimarySquashQParams& p, const int16_t* conv_out, int8_t* capsules);
void squash_factors_q(const fx::SquashQ& sq, const uint64_t* n, int count, int32_t* k, int64_t* fac);

// ref::dense_q's integers, with the sums in vectors (the decoder's layers).
void dense_q(const DenseQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
             const int32_t* requant, int8_t* out);

}  // namespace avx512_vnni
}  // namespace capsrt

#endif
