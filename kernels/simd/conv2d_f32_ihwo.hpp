// SIMD convolution on CONV_IHWO weights, written once over an xsimd arch and instantiated per ISA
// in kernels/<isa>/conv2d_f32.cpp (each compiled with only that ISA's flags). Must match
// ref::conv2d_f32 within float rounding (the sums run in another order).
//
// As a GEMM: M = output channels, N = output positions, K = C x KH x KW taps. No im2col: the
// tile reads its inputs straight from the (NCHW) input, one broadcast per position and tap.
//
// Blocking, innermost first:
//  - register tile: up to MR consecutive output positions of one output row x NR = NRV vectors
//    of output channels. Per tap: NRV weight loads (the IHWO
//    layout makes the NR channels of one tap contiguous), MR broadcasts, MR x NRV FMAs into
//    accumulators that stay in registers for the whole k-block.
//  - k-block: `cb` input channels (all their KH x KW taps), sized so the block's weights for one
//    channel tile stay in L1 while every position tile of the block reuses them.
//  - channel tiles over all output channels, then the rows' position tiles.
//  - When K takes more than one block, the accumulators go through a partial-sum buffer
//    [positions][O] in scratch between blocks (kept in L2); the last block
//    and writes NCHW output with the activation. So each weight is read once per image (per
//    position block: one block for the shapes that matter).
// conv1 (one input channel, K = 81) is one k-block: tiles go straight from bias to output.
// PrimaryCaps (256 -> 256, 9x9, stride 2, 36 positions) is split in k-blocks of a few input
// channels, with the 36 positions in one position block (6 rows: tiles of MR = 6).
// Padding is done by copying the input into a zero-bordered scratch buffer first.
#ifndef CAPSRT_KERNELS_SIMD_CONV2D_F32_IHWO_HPP
#define CAPSRT_KERNELS_SIMD_CONV2D_F32_IHWO_HPP

#include <cstring>
#include <xsimd/xsimd.hpp>

#include "simd/blocking.h"

namespace capsrt {
namespace simd {

// Hides a pointer's value from the optimiser (no instruction is emitted). With stride 2, input
// x[2r + kx] of tap kx is also x[2(r+1) + (kx-2)]; unrolled over kx, GCC then keeps broadcasts
// alive across taps to reuse them, runs out of the 16 ymm registers and spills accumulators.
// One opaque row pointer per tap makes each broadcast a plain load again.
template <class T>
inline T* opaque(T* p) {
  asm("" : "+r"(p));
  return p;
}

struct ConvTileArgs {
  const Conv2DParams* p;  // unpadded geometry (pad already applied to x)
  const float* x;         // [C][H][W], H and W include the padding
  const float* w;         // IHWO
  const float* bias;
  float* y;               // [O][P]
  float* partial;         // [rows of the block x OW][O] partial sums, or nullptr: one k-block
  int in_h, in_w;         // of x
  int c0, c1;             // k-block: input channels [c0, c1)
  int p_block0;           // first position of the position block (partial row 0)
  bool first, last;       // first / last k-block
};

// One register tile: R consecutive positions of output row `oy` from column `ox0`, channels
// [m0, m0 + NV vectors). The R inputs of one tap are x[base + r * stride]: with the stride S a
// compile-time constant (1 or 2; 0: read at run time), one pointer with constant displacements
// serves every broadcast of a tap. With the kernel width KWC a constant too (9; 0: at run time)
// a row of taps unrolls completely: the PrimaryCaps conv went from 80% to 92% of peak.
template <class A, int R, int NV, int S, int KWC>
inline void conv_tile(const ConvTileArgs& a, int oy, int ox0, int m0) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const Conv2DParams& cp = *a.p;
  const int O = cp.out_channels, P = cp.out_height * cp.out_width;
  const int KH = cp.kernel_h, KW = KWC ? KWC : cp.kernel_w;
  const int sw = S ? S : cp.stride_w;
  const size_t plane = static_cast<size_t>(a.in_h) * a.in_w;
  const int p = oy * cp.out_width + ox0;

  B acc[R][NV];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const float* src = a.first ? a.bias + m0 : a.partial + static_cast<size_t>(p + r - a.p_block0) * O + m0;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[r][v] = B::load_unaligned(src + v * L);
  }
  const float* xbase = a.x + static_cast<size_t>(oy) * cp.stride_h * a.in_w + static_cast<size_t>(ox0) * sw;
  const float* wk = a.w + static_cast<size_t>(a.c0) * KH * KW * O + m0;
  for (int c = a.c0; c < a.c1; ++c) {
    const float* xc = xbase + c * plane;
    for (int ky = 0; ky < KH; ++ky, xc += a.in_w) {
#pragma GCC unroll 9
      for (int kx = 0; kx < KW; ++kx, wk += O) {
        B wv[NV];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) wv[v] = B::load_unaligned(wk + v * L);
        const float* xk = opaque(xc + kx);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          const B xb(xk[r * sw]);
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

// Channels [m0, m1) when fewer than one vector remain: plain scalar sums, same order of blocks.
inline void conv_tail_channels(const ConvTileArgs& a, int p0, int p1, int m0, int m1) {
  const Conv2DParams& cp = *a.p;
  const int O = cp.out_channels, P = cp.out_height * cp.out_width;
  const size_t plane = static_cast<size_t>(a.in_h) * a.in_w;
  for (int p = p0; p < p1; ++p) {
    const int oy = p / cp.out_width, ox = p % cp.out_width;
    const float* xp = a.x + static_cast<size_t>(oy) * cp.stride_h * a.in_w + static_cast<size_t>(ox) * cp.stride_w;
    for (int m = m0; m < m1; ++m) {
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

// A tile of `rows` positions (1..R), with R chosen at compile time from the run-time count.
// With a constant kernel width only the two longest tiles, MR and MR - 1 (the segments of the
// canonical rows: 6 and 5), are compiled with it; shorter ones run with the width read at run
// time. Every unrolled tile is a large function, and this keeps the build (and its sanitizer
// variant) quick.
template <class A, int R, int NV, int S, int KWC, int MR = R>
inline void conv_tile_len(const ConvTileArgs& a, int len, int oy, int ox0, int m0) {
  if constexpr (KWC != 0 && R < MR - 1) {
    return conv_tile_len<A, R, NV, S, 0, R>(a, len, oy, ox0, m0);
  } else {
    if constexpr (R > 1) {
      if (len < R) return conv_tile_len<A, R - 1, NV, S, KWC, MR>(a, len, oy, ox0, m0);
    }
    conv_tile<A, R, NV, S, KWC>(a, oy, ox0, m0);
  }
}

// Every output row of [oy0, oy1) for one channel tile. A row of OW positions is cut into
// ceil(OW / MR) segments of nearly equal length (20 -> 5+5+5+5 with MR = 6, not 6+6+6+2), so
// the tiles stay large and never wrap to the next row.
template <class A, int MR, int NV, int S, int KWC>
inline void conv_channel_tile(const ConvTileArgs& a, int oy0, int oy1, int m0) {
  const int OW = a.p->out_width;
  const int segments = (OW + MR - 1) / MR;
  for (int oy = oy0; oy < oy1; ++oy) {
    int ox = 0;
    for (int s = 0; s < segments; ++s) {
      const int len = OW / segments + (s < OW % segments ? 1 : 0);
      conv_tile_len<A, MR, NV, S, KWC>(a, len, oy, ox, m0);
      ox += len;
    }
  }
}

// The paths for the shapes that matter: the canonical PrimaryCaps (9x9, stride 2) and conv1 (9x9,
// stride 1) get their geometry as constants; other strides 1 and 2 the stride only; any other
// shape runs the same tiles reading both at run time.
template <class A, int MR, int NV>
inline void conv_channel_tile_any_shape(const ConvTileArgs& a, int oy0, int oy1, int m0) {
  const int sw = a.p->stride_w, kw = a.p->kernel_w;
  if (sw == 2) {
    if (kw == 9) return conv_channel_tile<A, MR, NV, 2, 9>(a, oy0, oy1, m0);
    return conv_channel_tile<A, MR, NV, 2, 0>(a, oy0, oy1, m0);
  }
  if (sw == 1) {
    if (kw == 9) return conv_channel_tile<A, MR, NV, 1, 9>(a, oy0, oy1, m0);
    return conv_channel_tile<A, MR, NV, 1, 0>(a, oy0, oy1, m0);
  }
  return conv_channel_tile<A, MR, NV, 0, 0>(a, oy0, oy1, m0);
}

// Output channels [m_begin, m_end) of output rows [oy_begin, oy_end), with one task's scratch.
// The whole conv is one call with every channel and row; a task's share has tile-aligned
// channel bounds (the last task ends at O) or whole rows, so each output is made by the tile and
// the sums it has in the whole call.
template <class A, int MR, int NRV>
void conv2d_f32_ihwo_part(const Conv2DParams& params, const ConvBlocking& blk, const float* x, const float* w,
                          const float* bias, float* y, uint8_t* s, int m_begin, int m_end, int oy_begin,
                          int oy_end) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  int in_h = params.in_height, in_w = params.in_width;
  if (blk.pad_bytes) {
    // Zero-bordered copy of the input; the tiles then read it without bounds checks.
    float* xp = reinterpret_cast<float*>(s);
    in_h += 2 * params.pad_h + params.pad_h_extra;
    in_w += 2 * params.pad_w + params.pad_w_extra;
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
  const int OW = params.out_width;
  for (int oy0 = oy_begin; oy0 < oy_end; oy0 += blk.rows) {
    const int oy1 = oy0 + blk.rows < oy_end ? oy0 + blk.rows : oy_end;
    a.p_block0 = oy0 * OW;
    for (int c0 = 0; c0 < params.in_channels; c0 += blk.cb) {
      a.c0 = c0;
      a.c1 = c0 + blk.cb < params.in_channels ? c0 + blk.cb : params.in_channels;
      a.first = c0 == 0;
      a.last = a.c1 == params.in_channels;
      int m0 = m_begin;
      for (; m0 + NRV * L <= m_end; m0 += NRV * L) conv_channel_tile_any_shape<A, MR, NRV>(a, oy0, oy1, m0);
      for (; m0 + L <= m_end; m0 += L) conv_channel_tile<A, MR, 1, 0, 0>(a, oy0, oy1, m0);
      if (m0 < m_end) conv_tail_channels(a, oy0 * OW, oy1 * OW, m0, m_end);
    }
  }
}

// Threads (kernels/parallel.h), for a conv of kParallelMinConvMacs or more: the channel tiles
// are cut among the tasks when there are at least as many as tasks (the canonical convs: 4 to 16
// tiles; each task reads its channels' weights only), else the output rows.
template <class A, int MR, int NRV>
void conv2d_f32_ihwo(const Conv2DParams& params, const float* x, const float* w, const float* bias,
                     float* y, void* scratch) {
  using B = xsimd::batch<float, A>;
  constexpr int NR = NRV * static_cast<int>(B::size);
  const ConvTiling tiling{MR, NR};
  const ConvBlocking blk = conv_blocking(params, tiling);
  const int O = params.out_channels, OH = params.out_height;
  const int tiles = O / NR;
  const int64_t macs = int64_t{O} * OH * params.out_width * params.in_channels * params.kernel_h * params.kernel_w;
  const Parallel* par = worth_splitting(params.parallel, macs, kParallelMinConvMacs);
  const bool by_channels = tiles >= task_count(par, params.threads, INT32_MAX);
  const int tasks = task_count(par, params.threads, by_channels ? tiles : OH);
  const uint64_t slot = conv2d_f32_ihwo_slot_size(params, tiling);
  run_tasks(par, tasks, [&](int t) {
    uint8_t* s = static_cast<uint8_t*>(scratch) + slot * static_cast<uint64_t>(t);
    if (by_channels) {
      const Share sh = task_share(tiles, tasks, t);
      const int m_end = t + 1 == tasks ? O : static_cast<int>(sh.end) * NR;
      conv2d_f32_ihwo_part<A, MR, NRV>(params, blk, x, w, bias, y, s, static_cast<int>(sh.begin) * NR, m_end, 0, OH);
    } else {
      const Share sh = task_share(OH, tasks, t);
      conv2d_f32_ihwo_part<A, MR, NRV>(params, blk, x, w, bias, y, s, 0, O, static_cast<int>(sh.begin),
                                       static_cast<int>(sh.end));
    }
  });
}

}  // namespace simd
}  // namespace capsrt

#endif
