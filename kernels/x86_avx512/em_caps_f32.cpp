// AVX-512F: the EM capsule layers (PrimaryCaps; ConvCaps and ClassCaps: votes and routing) (kernels/simd/em_caps_f32.hpp); matches
// ref::em_primary_caps_f32, ref::em_conv_caps_f32 and ref::em_class_caps_f32.
#include "x86_avx512/avx512.h"
#include "simd/em_caps_f32.hpp"

#include <immintrin.h>

namespace capsrt {
namespace simd {
namespace em {

// The 16 lane sums of 16 vectors as one vector, in order: three folds, each adding two halves of
// a pair of vectors (45 instructions, against 16 horizontal adds of about 8 each).
//  1. rows k and k+4 (k in 0-3, 8-11): 256-bit halves [a_k, a_k+4], each a partial sum of 8;
//  2. those of k and k+8: 128-bit blocks [a_k, a_k+4, a_k+8, a_k+12], partial sums of 4;
//  3. within the blocks, the four vectors of step 2: block j's lane k is then the sum of a_4j+k.
template <>
struct LaneSums16<xsimd::avx512f> {
  using B = xsimd::batch<float, xsimd::avx512f>;
  static void run(const B* acc, float* sums) {
    __m512 t[16];
    for (int k : {0, 1, 2, 3, 8, 9, 10, 11}) {
      const __m512 a = acc[k], b = acc[k + 4];
      t[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0)),
                           _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2)));
    }
    __m512 u[4];
    for (int k = 0; k < 4; ++k)
      u[k] = _mm512_add_ps(_mm512_shuffle_f32x4(t[k], t[k + 8], _MM_SHUFFLE(2, 0, 2, 0)),
                           _mm512_shuffle_f32x4(t[k], t[k + 8], _MM_SHUFFLE(3, 1, 3, 1)));
    // lanes [x0+x2, y0+y2, x1+x3, y1+y3] per block for the pairs (u0, u1) and (u2, u3)
    const __m512 v0 = _mm512_add_ps(_mm512_unpacklo_ps(u[0], u[1]), _mm512_unpackhi_ps(u[0], u[1]));
    const __m512 v1 = _mm512_add_ps(_mm512_unpacklo_ps(u[2], u[3]), _mm512_unpackhi_ps(u[2], u[3]));
    const __m512 w = _mm512_add_ps(_mm512_shuffle_ps(v0, v1, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_ps(v0, v1, _MM_SHUFFLE(3, 2, 3, 2)));
    _mm512_storeu_ps(sums, w);
  }
};

}  // namespace em
}  // namespace simd
namespace avx512 {
using Arch = xsimd::avx512f;

void em_primary_caps_f32(const EmPrimaryCapsParams& p, const float* in, const float* weights, const float* bias,
                         float* out) {
  simd::em_primary_caps_f32<Arch>(p, in, weights, bias, out);
}

void em_conv_caps_f32(const EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch) {
  simd::em_conv_caps_f32<Arch>(p, in, weights, beta_u, beta_a, out, scratch);
}

void em_class_caps_f32(const EmClassCapsParams& p, const float* in, const float* weights, const float* beta_u,
                       const float* beta_a, float* activations, float* poses, void* scratch) {
  simd::em_class_caps_f32<Arch>(p, in, weights, beta_u, beta_a, activations, poses, scratch);
}

}  // namespace avx512
}  // namespace capsrt
