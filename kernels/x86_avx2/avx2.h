// AVX2+FMA kernels: declarations and register tiling. The .cpp files beside this header are
// compiled with only this ISA's flags (-mavx2 -mfma) and instantiate the templates of
// kernels/simd/ for xsimd::fma3<xsimd::avx2>; kernels/kernel_sets.cpp puts them in the table.
#ifndef CAPSRT_KERNELS_X86_AVX2_H
#define CAPSRT_KERNELS_X86_AVX2_H

#include "kernel_params.h"
#include "reference.h"
#include "simd/blocking.h"
#include "simd/caps_dense_q_common.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx2 {

using namespace capsrt::kernels;

// 16 ymm registers: 6 positions x 2 vectors of 8 channels = 12 accumulators, 2 weight vectors
// and 1 broadcast. 12 independent FMA chains cover the FMA latency (4 cycles) x 2 FMA pipes.
// Measured (capsbench, PrimaryCaps conv): 6x16 89% of peak; 4x24 64%, 3x32 69%, 6x8 46%.
constexpr simd::ConvTiling kConvTiling{6, 16};

#include "simd/isa_kernels.inc"  // NOLINT(build/include): declarations in this namespace

// The int8 convolution (conv2d_q.cpp), also used by the avx512 set: 2 vectors of 8 channels x
// 4 pixels; or, where the weights do not fit in L2 (the canonical PrimaryCaps conv: 5.3 MB), 1
// vector x 12 pixels, which reads each weight for 12 pixels instead of 4 (capsbench there: 97
// against 73 G MAC/s). The narrow tile keeps the panel, and so the small networks' arena, small.
// Its scratch (simd/conv2d_q_pack.h's) is known in every build, as every set's.
constexpr int kConvQPixels = 4, kConvQWidePixels = 12;
inline bool conv2d_q_wide(const Conv2DQParams& p) {
  return static_cast<uint64_t>(simd::conv_q_groups(p.geom)) * 4 * p.geom.out_channels > 1024 * 1024;
}
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size_threads(p.geom, conv2d_q_wide(p) ? kConvQWidePixels : kConvQPixels,
                                   simd::PanelLayout::kPixelMajor);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// CapsDense (caps_dense_q.cpp), also used by the avx512 set: predictions and routing with 8
// input capsules in the lanes. Its scratch (every build) and when it runs the reference: simd/caps_dense_q_common.h.
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  return simd::caps_dense_q_scratch_size(p, 8, 8);
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

}  // namespace avx2
}  // namespace capsrt

#endif
