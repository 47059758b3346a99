// Shared by the SIMD int8 convolutions (x86 and NEON), in plain C++: the im2col panel they read,
// their scratch, the per-channel epilogue table, and the loop around an ISA's register tile.
//
// A panel holds the reduction vectors of `nr` output pixels, in groups of 4 along K (the same
// groups as the K4O weights), each byte XOR `flip` (0x80 turns int8 x into the uint8 x + 128 that
// vpdpbusd multiplies). Padded taps hold pad_value; k >= K and pixels past the end hold 0 (their
// weights are 0, their outputs are not stored). Two layouts, each kernel takes one:
//   kPixelMajor   byte k of pixel n0 + n at n * Kp + k (Kp = K rounded up to 4): each pixel's
//                 vector is contiguous; a 32-bit load at n * Kp + 4g is the broadcast operand of
//                 one pixel for weight group g (the x86 kernels).
//   kInterleaved  byte k at ((k / 4) * nr + n) * 4 + k % 4: a group's nr pixels side by side,
//                 so one 16-byte load holds a group's 4 pixels (NEON: vdotq_laneq_s32).
//
// Packing is a real share of the work (K bytes per output pixel; 746 KB per canonical image), so
// it copies rows: a pixel's vector is built one kernel row (kernel_w contiguous input bytes) at a
// time, with no bounds tests for the pixels whose window lies inside the input; pixel-major
// builds it in place, interleaved builds it in `column` and deals it 4 bytes at a time.
#ifndef CAPSRT_KERNELS_SIMD_CONV2D_Q_PACK_H
#define CAPSRT_KERNELS_SIMD_CONV2D_Q_PACK_H

#include <cstdint>
#include <cstring>

#include "fixed_point.h"
#include "kernel_params.h"

namespace capsrt {
namespace simd {

inline int conv_q_depth(const kernels::Conv2DParams& g) { return g.in_channels * g.kernel_h * g.kernel_w; }
inline int conv_q_groups(const kernels::Conv2DParams& g) { return (conv_q_depth(g) + 3) / 4; }

// The epilogue table covers the output channels rounded up to a multiple of 64 (the most
// channels of any register tile), so a tile requantises all its lanes without tests: the
// kernels keep their accumulators in registers only while every index is a constant.
inline int conv_q_table_channels(const kernels::Conv2DParams& g) { return (g.out_channels + 63) / 64 * 64; }

inline uint64_t conv_q_align64(uint64_t n) { return (n + 63) / 64 * 64; }

enum class PanelLayout { kPixelMajor, kInterleaved };

// Scratch of a SIMD int8 conv with panels of `nr` pixels, known in every build: the panel, one
// pixel's column (interleaved layout only), and the table's offset, mult and shift arrays.
inline uint64_t conv_q_scratch_size(const kernels::Conv2DParams& g, int nr, PanelLayout layout) {
  const uint64_t kp = static_cast<uint64_t>(conv_q_groups(g)) * 4;
  return conv_q_align64(kp * static_cast<uint64_t>(nr)) +
         (layout == PanelLayout::kInterleaved ? conv_q_align64(kp) : 0) +
         3 * conv_q_align64(static_cast<uint64_t>(conv_q_table_channels(g)) * 4);
}

// The scratch carved: the table is int32 [channels]: offset (the bias, into which a kernel may
// fold a correction; added to the raw sums modulo 2^32), and the requantiser's mult and shift
// (fx::requantize). Table lanes past O hold offset 0, mult 0, shift 1.
struct ConvQScratch {
  uint8_t* panel;
  uint8_t* column;  // interleaved layout only
  int32_t* offset;
  int32_t* mult;
  int32_t* shift;
};

inline ConvQScratch carve_conv_q_scratch(const kernels::Conv2DQParams& p, const int32_t* bias,
                                         const int32_t* requant, int nr, PanelLayout layout,
                                         void* scratch) {
  const kernels::Conv2DParams& g = p.geom;
  const uint64_t kp = static_cast<uint64_t>(conv_q_groups(g)) * 4;
  const uint64_t table = conv_q_align64(static_cast<uint64_t>(conv_q_table_channels(g)) * 4);
  uint8_t* at = static_cast<uint8_t*>(scratch);
  ConvQScratch s;
  s.panel = at;
  at += conv_q_align64(kp * static_cast<uint64_t>(nr));
  s.column = layout == PanelLayout::kInterleaved ? at : nullptr;
  if (layout == PanelLayout::kInterleaved) at += conv_q_align64(kp);
  s.offset = reinterpret_cast<int32_t*>(at);
  s.mult = reinterpret_cast<int32_t*>(at + table);
  s.shift = reinterpret_cast<int32_t*>(at + 2 * table);
  for (int o = 0; o < conv_q_table_channels(g); ++o) {
    const bool real = o < g.out_channels;
    s.offset[o] = real ? bias[o] : 0;
    s.mult[o] = real ? requant[2 * o] : 0;
    s.shift[o] = real ? requant[2 * o + 1] : 1;
  }
  return s;
}

// dst[0, n) = src[0, n) XOR flip, in 8-byte words while they last.
inline void copy_row(uint8_t* dst, const int8_t* src, int n, uint64_t flip8) {
  int k = 0;
  for (; k + 8 <= n; k += 8) {
    uint64_t v;
    std::memcpy(&v, src + k, 8);
    v ^= flip8;
    std::memcpy(dst + k, &v, 8);
  }
  for (; k < n; ++k) dst[k] = static_cast<uint8_t>(static_cast<uint8_t>(src[k]) ^ static_cast<uint8_t>(flip8));
}

// Pixel n's vector into `col` (K bytes).
inline void pack_conv_q_pixel(const kernels::Conv2DQParams& p, const int8_t* in, int pixel, uint8_t flip,
                              uint8_t* col) {
  const kernels::Conv2DParams& g = p.geom;
  const uint8_t pad = static_cast<uint8_t>(static_cast<uint8_t>(p.pad_value) ^ flip);
  const uint64_t flip8 = flip * uint64_t{0x0101010101010101};
  const int plane = g.in_height * g.in_width;
  const int oy = pixel / g.out_width, ox = pixel % g.out_width;
  const int iy0 = oy * g.stride_h - g.pad_h, ix0 = ox * g.stride_w - g.pad_w;
  const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + g.kernel_h <= g.in_height && ix0 + g.kernel_w <= g.in_width;
  for (int c = 0; c < g.in_channels; ++c) {
    const int8_t* x = in + c * plane;
    for (int ky = 0; ky < g.kernel_h; ++ky, col += g.kernel_w) {
      const int iy = iy0 + ky;
      if (inside) {
        copy_row(col, x + iy * g.in_width + ix0, g.kernel_w, flip8);
        continue;
      }
      for (int kx = 0; kx < g.kernel_w; ++kx) {
        const int ix = ix0 + kx;
        col[kx] = iy >= 0 && iy < g.in_height && ix >= 0 && ix < g.in_width
                      ? static_cast<uint8_t>(static_cast<uint8_t>(x[iy * g.in_width + ix]) ^ flip)
                      : pad;
      }
    }
  }
}

template <PanelLayout kLayout>
inline void pack_conv_q_panel(const kernels::Conv2DQParams& p, const int8_t* in, int n0, int nr,
                              uint8_t flip, uint8_t* panel, uint8_t* column) {
  const kernels::Conv2DParams& g = p.geom;
  const int groups = conv_q_groups(g), pixels = g.out_height * g.out_width, K = conv_q_depth(g);
  const int kp = groups * 4;
  for (int n = 0; n < nr; ++n) {
    const int pixel = n0 + n;
    if (kLayout == PanelLayout::kPixelMajor) {
      uint8_t* row = panel + static_cast<size_t>(n) * kp;
      if (pixel >= pixels) {
        std::memset(row, 0, static_cast<size_t>(kp));
        continue;
      }
      pack_conv_q_pixel(p, in, pixel, flip, row);
      for (int k = K; k < kp; ++k) row[k] = 0;
    } else {
      uint8_t* dst = panel + 4 * n;
      if (pixel >= pixels) {
        for (int q = 0; q < groups; ++q) std::memset(dst + q * nr * 4, 0, 4);
        continue;
      }
      pack_conv_q_pixel(p, in, pixel, flip, column);
      for (int k = K; k < kp; ++k) column[k] = 0;
      for (int q = 0; q < groups; ++q) std::memcpy(dst + q * nr * 4, column + 4 * q, 4);
    }
  }
}

// Stores a requantised tile: y[m][n][l] is output channel o0 + L*m + l at pixel n0 + n (already
// clamped to [out_min, out_max]); channels past O and pixels past n0 + nr are skipped.
template <int MR, int NR, int L>
inline void store_conv_q_rows(const kernels::Conv2DQParams& p, const int32_t (&y)[MR][NR][L], int o0,
                              int n0, int nr, void* out) {
  const int O = p.geom.out_channels, plane = p.geom.out_height * p.geom.out_width;
  for (int m = 0; m < MR; ++m) {
    const int base = o0 + L * m;
    if (base >= O) break;
    const int width = O - base < L ? O - base : L;
    for (int l = 0; l < width; ++l) {
      const size_t at = static_cast<size_t>(base + l) * plane + n0;
      if (p.out_bytes == 2) {
        int16_t* d = static_cast<int16_t*>(out) + at;
        for (int n = 0; n < nr; ++n) d[n] = static_cast<int16_t>(y[m][n][l]);
      } else {
        int8_t* d = static_cast<int8_t*>(out) + at;
        for (int n = 0; n < nr; ++n) d[n] = static_cast<int8_t>(y[m][n][l]);
      }
    }
  }
}

// The loop every SIMD int8 conv runs: for each panel of NR pixels (packed once), for each block
// of MR x L output channels, tile(o0, panel, y) fills y with the block's requantised outputs (as
// ref::conv2d_q computes them), which are then stored.
template <int MR, int NR, int L, PanelLayout kLayout, class Tile>
inline void run_conv_q(const kernels::Conv2DQParams& p, const int8_t* in, uint8_t flip,
                       const ConvQScratch& s, void* out, Tile&& tile) {
  const kernels::Conv2DParams& g = p.geom;
  const int pixels = g.out_height * g.out_width;
  for (int n0 = 0; n0 < pixels; n0 += NR) {
    pack_conv_q_panel<kLayout>(p, in, n0, NR, flip, s.panel, s.column);
    const int nr = pixels - n0 < NR ? pixels - n0 : NR;
    for (int o0 = 0; o0 < g.out_channels; o0 += MR * L) {
      alignas(64) int32_t y[MR][NR][L];
      tile(o0, s.panel, y);
      store_conv_q_rows(p, y, o0, n0, nr, out);
    }
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
