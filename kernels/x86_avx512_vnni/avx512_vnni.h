// AVX-512 VNNI int8 kernels (vpdpbusd): declarations. The .cpp files beside this header are
// compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512vnni only;
// kernels/kernel_sets.cpp puts them in the "avx512-vnni" set, which the dispatch picks when the
// CPU has AVX512_VNNI (and F, BW, DQ, VL).
#ifndef CAPSRT_KERNELS_X86_AVX512_VNNI_H
#define CAPSRT_KERNELS_X86_AVX512_VNNI_H

#include "kernel_params.h"
#include "reference.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace avx512_vnni {

using namespace capsrt::kernels;

// 4 vectors of 16 output channels x 6 pixels: 24 zmm accumulators, 4 weight vectors, 1 broadcast.
constexpr int kConvQVectors = 4, kConvQPixels = 6;

// Scratch (known in every build): simd/conv2d_q_pack.h's, for panels of 6 pixels.
inline uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return simd::conv_q_scratch_size(p.geom, kConvQPixels, simd::PanelLayout::kPixelMajor);
}
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// CapsDense (caps_dense_q.cpp): predictions and routing with input capsules in the lanes.
// Softmax over the inputs, low-memory routing and row-major W run the reference kernel.
// Scratch (every build): u as int16 pairs [DI/2 rounded up][Ip][2], predictions int16
// [J][DO][Ip] (Ip: I rounded up to 16), a block's logits int32 [J][16] and exponentials int64
// [J][16], S int64 [J][DO], V int32 [J][DO], each rounded up to 64 bytes, then S's partial
// sums int64 [J][DO][8]; the reference's where it runs.
inline bool caps_dense_q_uses_reference(const CapsDenseQParams& p) {
  return p.low_memory || p.softmax_axis != CAPS_SOFTMAX_OVER_OUTPUTS ||
         p.predict.weight_layout != CAPS_LAYOUT_CAPS_JDKI;
}
inline uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  if (caps_dense_q_uses_reference(p)) return ref::caps_dense_q_scratch_size(p);
  auto a64 = [](uint64_t n) { return (n + 63) / 64 * 64; };
  const CapsPredictParams& q = p.predict;
  const uint64_t ip = (static_cast<uint64_t>(q.in_caps) + 15) / 16 * 16;
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim, j = static_cast<uint64_t>(q.out_caps);
  return a64(static_cast<uint64_t>((q.in_dim + 1) / 2) * ip * 4) + a64(jd * ip * 2) + a64(j * 16 * 4) +
         a64(j * 16 * 8) + a64(jd * 8) + a64(jd * 4) + jd * 64;
}
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

}  // namespace avx512_vnni
}  // namespace capsrt

#endif
