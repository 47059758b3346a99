// SIMD convolution on CONV_IHWO weights, written once over an xsimd arch and instantiated per ISA
// in kernels/<isa>/conv2d_f32.cpp (each compiled with only that ISA's flags). Must match
// ref::conv2d_f32 within float rounding (the sums run in another order).
//
// As a GEMM: M = output channels, N = output positions, K = C x KH x KW taps. No im2col: the
// tile reads its inputs straight from the (NCHW) input, one broadcast per position and tap.
//
// Blocking, innermost first:
//  - register tile: MR output positions (consecutive in flat y*OW+x order, so a tile may wrap to
//    the next row) x NR = NRV vectors of output channels. Per tap: NRV weight loads (the IHWO
//    layout makes the NR channels of one tap contiguous), MR broadcasts, MR x NRV FMAs into
//    accumulators that stay in registers for the whole k-block.
//  - k-block: `cb` input channels (all their KH x KW taps), sized so the block's weights for one
//    channel tile stay in L1 while every position tile of the block reuses them.
//  - channel tiles over all output channels, then position tiles.
//  - When K takes more than one block, the accumulators go through a partial-sum buffer
//    [positions][O] in scratch between blocks (kept in L2); the last block adds nothing more
//    and writes NCHW output with the activation. So each weight is read once per image (per
//    position block: one block for the shapes that matter).
// conv1 (one input channel, K = 81) is one k-block: tiles go straight from bias to output.
// PrimaryCaps (256 -> 256, 9x9, stride 2, 36 positions) is split in k-blocks of a few input
// channels, with the 36 positions in one position block (6 tiles of MR = 6).
// Padding is done by copying the input into a zero-bordered scratch buffer first.
#ifndef CAPSRT_KERNELS_SIMD_CONV2D_F32_IHWO_HPP
#define CAPSRT_KERNELS_SIMD_CONV2D_F32_IHWO_HPP

#include <cstring>
#include <xsimd/xsimd.hpp>

#include "simd/blocking.h"

namespace capsrt {
namespace simd {

struct ConvTileArgs {
  const Conv2DParams* p;  // unpadded geometry (pad already applied to x)
  const float* x;         // [C][H][W], H and W include the padding
  const float* w;         // IHWO
  const float* bias;
  float* y;               // [O][P]
  float* partial;         // [pb][O] partial sums, or nullptr when K is one block
  int in_h, in_w;         // of x
  int c0, c1;             // k-block: input channels [c0, c1)
  int p_block0;           // first position of the position block (partial row 0)
  bool first, last;       // first / last k-block
};

// One register tile: positions [p, p+R), channels [m0, m0 + NV lanes-vectors).
template <class A, int R, int NV>
inline void conv_tile(const ConvTileArgs& a, int p, int m0) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const Conv2DParams& cp = *a.p;
  const int O = cp.out_channels, P = cp.out_height * cp.out_width;
  const int KH = cp.kernel_h, KW = cp.kernel_w;
  const size_t plane = static_cast<size_t>(a.in_h) * a.in_w;

  B acc[R][NV];
  const float* xr[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const int oy = (p + r) / cp.out_width, ox = (p + r) % cp.out_width;
    xr[r] = a.x + static_cast<size_t>(oy) * cp.stride_h * a.in_w + static_cast<size_t>(ox) * cp.stride_w;
    const float* src = a.first ? a.bias + m0 : a.partial + static_cast<size_t>(p + r - a.p_block0) * O + m0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = B::load_unaligned(src + v * L);
  }
  for (int c = a.c0; c < a.c1; ++c) {
    for (int ky = 0; ky < KH; ++ky) {
      const size_t xo = c * plane + static_cast<size_t>(ky) * a.in_w;
      const float* wk = a.w + (static_cast<size_t>(c) * KH + ky) * KW * O + m0;
      for (int kx = 0; kx < KW; ++kx) {
        B wv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) wv[v] = B::load_unaligned(wk + static_cast<size_t>(kx) * O + v * L);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const B xb(xr[r][xo + kx]);
#pragma GCC unroll 8
          for (int v = 0; v < NV; ++v) acc[r][v] = xsimd::fma(xb, wv[v], acc[r][v]);
        }
      }
    }
  }
  if (!a.last) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v)
        acc[r][v].store_unaligned(a.partial + static_cast<size_t>(p + r - a.p_block0) * O + m0 + v * L);
    return;
  }
  // Last block: transpose the tile into NCHW output (channel rows, R consecutive positions).
  alignas(64) float tile[R][NV * L];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v].store_aligned(&tile[r][v * L]);
  const bool relu = cp.activation == CAPS_ACT_RELU;
  for (int ch = 0; ch < NV * L; ++ch) {
    float* yc = a.y + static_cast<size_t>(m0 + ch) * P + p;
    for (int r = 0; r < R; ++r) {
      const float val = tile[r][ch];
      yc[r] = relu && val < 0.0f ? 0.0f : val;
    }
  }
}

// Channels [m0, O) when fewer than one vector remain: plain scalar sums, same order of blocks.
inline void conv_tail_channels(const ConvTileArgs& a, int p0, int p1, int m0) {
  const Conv2DParams& cp = *a.p;
  const int O = cp.out_channels, P = cp.out_height * cp.out_width;
  const size_t plane = static_cast<size_t>(a.in_h) * a.in_w;
  for (int p = p0; p < p1; ++p) {
    const int oy = p / cp.out_width, ox = p % cp.out_width;
    const float* xp = a.x + static_cast<size_t>(oy) * cp.stride_h * a.in_w + static_cast<size_t>(ox) * cp.stride_w;
    for (int m = m0; m < O; ++m) {
      float acc = a.first ? a.bias[m] : a.partial[static_cast<size_t>(p - a.p_block0) * O + m];
      for (int c = a.c0; c < a.c1; ++c)
        for (int ky = 0; ky < cp.kernel_h; ++ky)
          for (int kx = 0; kx < cp.kernel_w; ++kx)
            acc += xp[c * plane + static_cast<size_t>(ky) * a.in_w + kx] *
                   a.w[((static_cast<size_t>(c) * cp.kernel_h + ky) * cp.kernel_w + kx) * O + m];
      if (!a.last)
        a.partial[static_cast<size_t>(p - a.p_block0) * O + m] = acc;
      else
        a.y[static_cast<size_t>(m) * P + p] = cp.activation == CAPS_ACT_RELU && acc < 0.0f ? 0.0f : acc;
    }
  }
}

// Position tiles of R = MR, then one shorter tile for the rest (R chosen at run time).
template <class A, int R, int NV>
inline void conv_tile_rows(const ConvTileArgs& a, int p, int rows, int m0) {
  if constexpr (R > 1) {
    if (rows < R) return conv_tile_rows<A, R - 1, NV>(a, p, rows, m0);
  }
  conv_tile<A, R, NV>(a, p, m0);
}

template <class A, int MR, int NV>
inline void conv_channel_tile(const ConvTileArgs& a, int p0, int p1, int m0) {
  for (int p = p0; p < p1; p += MR) conv_tile_rows<A, MR, NV>(a, p, p1 - p < MR ? p1 - p : MR, m0);
}

template <class A, int MR, int NRV>
void conv2d_f32_ihwo(const Conv2DParams& params, const float* x, const float* w, const float* bias,
                     float* y, void* scratch) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const ConvBlocking blk = conv_blocking(params, ConvTiling{MR, NRV * L});
  uint8_t* s = static_cast<uint8_t*>(scratch);
  int in_h = params.in_height, in_w = params.in_width;
  if (blk.pad_bytes) {
    // Zero-bordered copy of the input; the tiles then read it without bounds checks.
    float* xp = reinterpret_cast<float*>(s);
    in_h += 2 * params.pad_h;
    in_w += 2 * params.pad_w;
    std::memset(xp, 0, static_cast<size_t>(params.in_channels) * in_h * in_w * sizeof(float));
    for (int c = 0; c < params.in_channels; ++c)
      for (int iy = 0; iy < params.in_height; ++iy)
        std::memcpy(xp + (static_cast<size_t>(c) * in_h + iy + params.pad_h) * in_w + params.pad_w,
                    x + (static_cast<size_t>(c) * params.in_height + iy) * params.in_width,
                    static_cast<size_t>(params.in_width) * sizeof(float));
    x = xp;
    s += blk.pad_bytes;
  }
  ConvTileArgs a{};
  a.p = &params;
  a.x = x;
  a.w = w;
  a.bias = bias;
  a.y = y;
  a.partial = blk.split_k ? reinterpret_cast<float*>(s) : nullptr;
  a.in_h = in_h;
  a.in_w = in_w;
  const int O = params.out_channels, P = params.out_height * params.out_width;
  for (int p0 = 0; p0 < P; p0 += blk.pb) {
    const int p1 = p0 + blk.pb < P ? p0 + blk.pb : P;
    a.p_block0 = p0;
    for (int c0 = 0; c0 < params.in_channels; c0 += blk.cb) {
      a.c0 = c0;
      a.c1 = c0 + blk.cb < params.in_channels ? c0 + blk.cb : params.in_channels;
      a.first = c0 == 0;
      a.last = a.c1 == params.in_channels;
      int m0 = 0;
      for (; m0 + NRV * L <= O; m0 += NRV * L) conv_channel_tile<A, MR, NRV>(a, p0, p1, m0);
      for (; m0 + L <= O; m0 += L) conv_channel_tile<A, MR, 1>(a, p0, p1, m0);
      if (m0 < O) conv_tail_channels(a, p0, p1, m0);
    }
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
