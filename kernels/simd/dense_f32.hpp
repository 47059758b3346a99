// SIMD fully connected layer (the decoder), written once over an xsimd arch and instantiated in
// kernels/<isa>/dense_f32.cpp. Row-major weights [N][K]. Must match ref::dense_f32 within float
// rounding.
//
// The layer is bound by reading its weights (each is used once per image), so the kernel streams
// L rows at a time, each with its own vector accumulator over K (one input load serves L rows),
// and reduces each accumulator with xsimd::hadd; K past the last full vector and the last rows
// are finished with scalar code. (Not xsimd::haddp: in xsimd 8.1 its AVX-512 version returns the
// row sums in a permuted lane order.)
#ifndef CAPSRT_KERNELS_SIMD_DENSE_F32_HPP
#define CAPSRT_KERNELS_SIMD_DENSE_F32_HPP

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "kernel_params.h"

namespace capsrt {
namespace simd {

using namespace capsrt::kernels;

inline float dense_activation(caps_activation act, float x) {
  if (act == CAPS_ACT_RELU) return x > 0.0f ? x : 0.0f;
  if (act == CAPS_ACT_SIGMOID) return 1.0f / (1.0f + std::exp(-x));
  return x;
}

template <class A>
void dense_f32(const DenseParams& p, const float* in, const float* w, const float* bias,
               float* out) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const int K = p.in_features, N = p.out_features;
  const int kv = K / L * L;
  int n0 = 0;
  for (; n0 + L <= N; n0 += L) {
    B acc[L];
    for (int r = 0; r < L; ++r) acc[r] = B(0.0f);
    for (int k = 0; k < kv; k += L) {
      const B x = B::load_unaligned(in + k);
      for (int r = 0; r < L; ++r)
        acc[r] = xsimd::fma(B::load_unaligned(w + static_cast<size_t>(n0 + r) * K + k), x, acc[r]);
    }
    for (int r = 0; r < L; ++r) {
      const float* wr = w + static_cast<size_t>(n0 + r) * K;
      float t = xsimd::hadd(acc[r]) + bias[n0 + r];
      for (int k = kv; k < K; ++k) t += wr[k] * in[k];
      out[n0 + r] = dense_activation(p.activation, t);
    }
  }
  for (int n = n0; n < N; ++n) {
    const float* wr = w + static_cast<size_t>(n) * K;
    B acc(0.0f);
    for (int k = 0; k < kv; k += L) acc = xsimd::fma(B::load_unaligned(wr + k), B::load_unaligned(in + k), acc);
    float t = xsimd::hadd(acc) + bias[n];
    for (int k = kv; k < K; ++k) t += wr[k] * in[k];
    out[n] = dense_activation(p.activation, t);
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
