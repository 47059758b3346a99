// Shared by the SIMD int8 convolutions (x86 and NEON): the im2col panel they read, in plain C++.
//
// A panel holds the reduction vectors of `nr` output pixels, in groups of 4 along K (the same
// groups as the K4O weights): byte (g, n, kk) at (g * nr + n) * 4 + kk is input element
// k = 4g + kk of pixel n0 + n, XOR `flip` (0x80 turns int8 x into the uint8 x + 128 that
// vpdpbusd multiplies). Padded taps hold pad_value; k >= K and pixels past the end hold 0 (their
// weights are 0, their outputs are not stored). A 32-bit load at (g * nr + n) * 4 is then the
// broadcast operand of one pixel for one weight group.
#ifndef CAPSRT_KERNELS_SIMD_CONV2D_Q_PACK_H
#define CAPSRT_KERNELS_SIMD_CONV2D_Q_PACK_H

#include <cstdint>

#include "kernel_params.h"

namespace capsrt {
namespace simd {

inline int conv_q_depth(const kernels::Conv2DParams& g) { return g.in_channels * g.kernel_h * g.kernel_w; }
inline int conv_q_groups(const kernels::Conv2DParams& g) { return (conv_q_depth(g) + 3) / 4; }

inline void pack_conv_q_panel(const kernels::Conv2DQParams& p, const int8_t* in, int n0, int nr,
                              uint8_t flip, uint8_t* panel) {
  const kernels::Conv2DParams& g = p.geom;
  const int groups = conv_q_groups(g), pixels = g.out_height * g.out_width;
  const uint8_t pad = static_cast<uint8_t>(static_cast<uint8_t>(p.pad_value) ^ flip);
  for (int n = 0; n < nr; ++n) {
    const int pixel = n0 + n;
    if (pixel >= pixels) {
      for (int q = 0; q < groups * 4; ++q) panel[((q / 4) * nr + n) * 4 + q % 4] = 0;
      continue;
    }
    const int oy = pixel / g.out_width, ox = pixel % g.out_width;
    int k = 0;
    for (int c = 0; c < g.in_channels; ++c) {
      const int8_t* x = in + c * g.in_height * g.in_width;
      for (int ky = 0; ky < g.kernel_h; ++ky) {
        const int iy = oy * g.stride_h + ky - g.pad_h;
        for (int kx = 0; kx < g.kernel_w; ++kx, ++k) {
          const int ix = ox * g.stride_w + kx - g.pad_w;
          const bool inside = iy >= 0 && iy < g.in_height && ix >= 0 && ix < g.in_width;
          panel[((k / 4) * nr + n) * 4 + k % 4] =
              inside ? static_cast<uint8_t>(static_cast<uint8_t>(x[iy * g.in_width + ix]) ^ flip) : pad;
        }
      }
    }
    for (; k < groups * 4; ++k) panel[((k / 4) * nr + n) * 4 + k % 4] = 0;
  }
}

// Output (o, pixel) of an int8 conv from its exact int32 sum: requantised, clamped, stored as
// the reference does (kernels/reference/conv2d_q.cpp).
inline void store_conv_q(const kernels::Conv2DQParams& p, const int32_t* requant, int o, int pixel,
                         int32_t acc, void* out) {
  const int32_t y = fx::clamp32(fx::requantize(acc, requant[2 * o], requant[2 * o + 1]), p.out_min, p.out_max);
  const int at = o * p.geom.out_height * p.geom.out_width + pixel;
  if (p.out_bytes == 2)
    static_cast<int16_t*>(out)[at] = static_cast<int16_t>(y);
  else
    static_cast<int8_t*>(out)[at] = static_cast<int8_t>(y);
}

// A finished tile of a SIMD int8 conv: tile[m][n][l] is the sum (without bias) of output channel
// o0 + L*m + l at pixel n0 + n. Adds offset[o] (the bias, or the bias with a kernel's correction
// folded in) modulo 2^32 (a kernel's lanes may wrap; the true sum fits an int32), then stores as
// store_conv_q; channels past O and pixels past n0 + nr are skipped.
template <int MR, int NR, int L>
inline void store_conv_q_tile(const kernels::Conv2DQParams& p, const int32_t* requant,
                              const int32_t* offset, const int32_t (&tile)[MR][NR][L], int o0,
                              int n0, int nr, void* out) {
  const int O = p.geom.out_channels;
  for (int m = 0; m < MR; ++m) {
    const int base = o0 + L * m;
    if (base >= O) break;
    const int width = O - base < L ? O - base : L;
    for (int n = 0; n < nr; ++n)
      for (int l = 0; l < width; ++l)
        store_conv_q(p, requant, base + l, n0 + n,
                     static_cast<int32_t>(static_cast<uint32_t>(tile[m][n][l]) +
                                          static_cast<uint32_t>(offset[base + l])),
                     out);
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
