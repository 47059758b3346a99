// Blocking and scratch arithmetic of the SIMD kernels (kernels/simd/*.hpp). Plain C++ with no
// SIMD types, so that every build (and the tools, which size the arena of every kernel set, also
// of ISAs they cannot run) computes the same numbers the kernels use.
#ifndef CAPSRT_KERNELS_SIMD_BLOCKING_H
#define CAPSRT_KERNELS_SIMD_BLOCKING_H

#include <cstddef>
#include <cstdint>

#include "kernel_params.h"
#include "parallel.h"

namespace capsrt {
namespace simd {

using namespace capsrt::kernels;

// Register tile of a convolution kernel: `mr` output positions x `nr` output channels
// (nr = vectors x lanes). Set per ISA in its header.
struct ConvTiling {
  int mr;
  int nr;
};

// Bytes of weights one k-block brings in for one channel tile: the taps of `cb` input channels x
// nr channels x 4 bytes stay under this, so the weights a tile streams for one position tile are
// still in L1 (or near, in L2) for the next position tiles, and partial sums go through memory
// once per cb channels. Measured on the PrimaryCaps conv with AVX2: 10 KB 82%, 48 KB 87%,
// 96 KB 76% of peak.
constexpr uint64_t kConvL1WeightBytes = 48 * 1024;
// Bytes of the partial-sum buffer (positions x all output channels) when K is split in blocks;
// it stays in L2 while every channel tile of the block updates it.
constexpr uint64_t kConvPartialBytes = 128 * 1024;

struct ConvBlocking {
  int cb;              // input channels per k-block
  int rows;            // output rows per position block
  bool split_k;        // more than one k-block: partial sums go through the scratch buffer
  uint64_t pad_bytes;    // zero-padded copy of the input (0 when the conv has no padding)
  uint64_t partial_bytes;
};

inline ConvBlocking conv_blocking(const Conv2DParams& p, const ConvTiling& t) {
  ConvBlocking b{};
  const uint64_t taps = static_cast<uint64_t>(p.kernel_h) * p.kernel_w;
  const uint64_t per_channel = taps * t.nr * sizeof(float);
  b.cb = static_cast<int>(kConvL1WeightBytes / per_channel);
  if (b.cb < 1) b.cb = 1;
  if (b.cb > p.in_channels) b.cb = p.in_channels;
  b.split_k = b.cb < p.in_channels;
  b.rows = p.out_height;
  if (b.split_k) {
    const uint64_t row = static_cast<uint64_t>(p.out_width) * p.out_channels * sizeof(float);
    int fit = static_cast<int>(kConvPartialBytes / row);
    if (fit < 1) fit = 1;
    if (fit < b.rows) b.rows = fit;
    b.partial_bytes = kernels::align_up(static_cast<uint64_t>(b.rows) * row);
  }
  if (p.pad_h > 0 || p.pad_w > 0 || p.pad_h_extra > 0 || p.pad_w_extra > 0) {
    const uint64_t hp = static_cast<uint64_t>(p.in_height) + 2 * p.pad_h + p.pad_h_extra;
    const uint64_t wp = static_cast<uint64_t>(p.in_width) + 2 * p.pad_w + p.pad_w_extra;
    b.pad_bytes = kernels::align_up(static_cast<uint64_t>(p.in_channels) * hp * wp * sizeof(float));
  }
  return b;
}

// One task's scratch: the padded input and the partial sums (each task has its own: threads
// slots of this size, kernels/parallel.h).
inline uint64_t conv2d_f32_ihwo_slot_size(const Conv2DParams& p, const ConvTiling& t) {
  const ConvBlocking b = conv_blocking(p, t);
  return b.pad_bytes + b.partial_bytes;
}

inline uint64_t conv2d_f32_ihwo_scratch_size(const Conv2DParams& p, const ConvTiling& t) {
  return conv2d_f32_ihwo_slot_size(p, t) * static_cast<uint64_t>(p.threads < 1 ? 1 : p.threads);
}

// Scratch of the SIMD CapsDense kernel (kernels/simd/caps_dense_f32.hpp), in this order, each
// 64-byte aligned: u_hat [J][DO][I], logits [J][I], coupling [J][I]. The inputs-fastest layouts
// put consecutive input capsules in the vector lanes for every pass. u transposed [DI][I] is
// needed only while u_hat is made, before any coupling exists: it shares the coupling buffer
// (which is made as large as it needs, DI > J being rare).
struct CapsDenseScratch {
  uint64_t u_hat, logits, coupling, u_t, total;
};

inline CapsDenseScratch caps_dense_scratch(const CapsDenseParams& p) {
  const uint64_t I = static_cast<uint64_t>(p.predict.in_caps), DI = static_cast<uint64_t>(p.predict.in_dim);
  const uint64_t J = static_cast<uint64_t>(p.predict.out_caps), DO = static_cast<uint64_t>(p.predict.out_dim);
  CapsDenseScratch s;
  s.u_hat = 0;
  s.logits = kernels::align_up(J * DO * I * sizeof(float));
  s.coupling = s.logits + kernels::align_up(J * I * sizeof(float));
  s.u_t = s.coupling;
  s.total = s.coupling + kernels::align_up((J > DI ? J : DI) * I * sizeof(float));
  return s;
}

inline uint64_t caps_dense_f32_scratch_size(const CapsDenseParams& p) {
  return caps_dense_scratch(p).total;
}

}  // namespace simd
}  // namespace capsrt

#endif
