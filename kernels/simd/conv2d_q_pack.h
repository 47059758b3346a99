// Shared by the SIMD int8 convolutions (x86 and NEON), in plain C++: the im2col panel they read,
// their scratch, the per-channel epilogue table, and the loop around an ISA's register tile.
//
// A panel holds the reduction vectors of `nr` output pixels, in groups of 4 along K (the same
// groups as the K4O weights), each byte XOR `flip` (0x80 turns int8 x into the uint8 x + 128 that
// vpdpbusd multiplies). Padded taps hold pad_value; k >= K and pixels past the end hold 0 (their
// weights are 0, their outputs are not stored). Two layouts, each kernel takes one:
// A panel holds one chunk of the reduction, groups [q0, q0 + qn) (below); with k counted from 4 q0:
//   kPixelMajor   byte k of pixel n0 + n at n * 4 qn + k: each pixel's vector is contiguous; a
//                 32-bit load at n * 4 qn + 4g is the broadcast operand of one pixel for weight
//                 group g (the x86 kernels).
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
#include "parallel.h"

namespace capsrt {
namespace simd {

inline int conv_q_depth(const kernels::Conv2DParams& g) { return g.in_channels * g.kernel_h * g.kernel_w; }
inline int conv_q_groups(const kernels::Conv2DParams& g) { return (conv_q_depth(g) + 3) / 4; }

// The epilogue table covers the output channels rounded up to a multiple of 64 (the most
// channels of any register tile), so a tile requantises all its lanes without tests: the
// kernels keep their accumulators in registers only while every index is a constant.
inline int conv_q_table_channels(const kernels::Conv2DParams& g) { return (g.out_channels + 63) / 64 * 64; }

enum class PanelLayout { kPixelMajor, kInterleaved };

// The reduction is cut into chunks of at most kConvQChunkGroups groups (2,048 k): a panel then
// holds one chunk (24 KB at most for 12 pixels), whatever K is (20,736 in the canonical
// PrimaryCaps conv), and stays in L1 while every block of output channels reads it. Between
// chunks a block's sums wait in `partial` (only where K needs more than one chunk).
constexpr int kConvQChunkGroups = 512;
inline int conv_q_chunk_groups(const kernels::Conv2DParams& g) {
  return conv_q_groups(g) < kConvQChunkGroups ? conv_q_groups(g) : kConvQChunkGroups;
}

// Scratch of a SIMD int8 conv with panels of `nr` pixels, known in every build: the panel (one
// chunk), one pixel's column (interleaved layout only), the table's offset, mult and shift
// arrays, and the partial sums int32 [table channels][nr] (several chunks only).
inline uint64_t conv_q_scratch_size(const kernels::Conv2DParams& g, int nr, PanelLayout layout) {
  const uint64_t kc = static_cast<uint64_t>(conv_q_chunk_groups(g)) * 4, nr64 = static_cast<uint64_t>(nr);
  const uint64_t channels = static_cast<uint64_t>(conv_q_table_channels(g));
  return kernels::align_up(kc * nr64) + (layout == PanelLayout::kInterleaved ? kernels::align_up(kc) : 0) +
         3 * kernels::align_up(channels * 4) +
         (conv_q_groups(g) > kConvQChunkGroups ? kernels::align_up(channels * nr64 * 4) : 0);
}

// The scratch carved: the table is int32 [channels]: offset (the bias, into which a kernel may
// fold a correction; added to the raw sums modulo 2^32), and the requantiser's mult and shift
// (fx::requantize). Table lanes past O hold offset 0, mult 0, shift 1.
struct ConvQScratch {
  uint8_t* panel;
  uint8_t* column;   // interleaved layout only
  int32_t* offset;
  int32_t* mult;
  int32_t* shift;
  int32_t* partial;  // several chunks only
};

inline ConvQScratch carve_conv_q_scratch(const kernels::Conv2DQParams& p, const int32_t* bias,
                                         const int32_t* requant, int nr, PanelLayout layout,
                                         void* scratch) {
  const kernels::Conv2DParams& g = p.geom;
  const uint64_t kc = static_cast<uint64_t>(conv_q_chunk_groups(g)) * 4;
  const uint64_t table = kernels::align_up(static_cast<uint64_t>(conv_q_table_channels(g)) * 4);
  uint8_t* at = static_cast<uint8_t*>(scratch);
  ConvQScratch s;
  s.panel = at;
  at += kernels::align_up(kc * static_cast<uint64_t>(nr));
  s.column = layout == PanelLayout::kInterleaved ? at : nullptr;
  if (layout == PanelLayout::kInterleaved) at += kernels::align_up(kc);
  s.offset = reinterpret_cast<int32_t*>(at);
  s.mult = reinterpret_cast<int32_t*>(at + table);
  s.shift = reinterpret_cast<int32_t*>(at + 2 * table);
  s.partial = conv_q_groups(g) > kConvQChunkGroups ? reinterpret_cast<int32_t*>(at + 3 * table) : nullptr;
  for (int o = 0; o < conv_q_table_channels(g); ++o) {
    const bool real = o < g.out_channels;
    s.offset[o] = real ? bias[o] : 0;
    s.mult[o] = real ? requant[2 * o] : 0;
    s.shift[o] = real ? requant[2 * o + 1] : 1;
  }
  return s;
}

// dst[0, n) = src[0, n) XOR flip. A kernel row is a few bytes whose count is known only at run
// time, so it goes in at most a handful of 8- or 4-byte words, the last overlapping the one
// before (a byte loop would take most of the packing's time).
inline void copy_row(uint8_t* dst, const int8_t* src, int n, uint64_t flip8) {
  if (n >= 8) {
    uint64_t v;
    for (int k = 0; k + 8 < n; k += 8) {
      std::memcpy(&v, src + k, 8);
      v ^= flip8;
      std::memcpy(dst + k, &v, 8);
    }
    std::memcpy(&v, src + n - 8, 8);
    v ^= flip8;
    std::memcpy(dst + n - 8, &v, 8);
  } else if (n >= 4) {
    uint32_t v, w;
    std::memcpy(&v, src, 4);
    std::memcpy(&w, src + n - 4, 4);
    v ^= static_cast<uint32_t>(flip8);
    w ^= static_cast<uint32_t>(flip8);
    std::memcpy(dst, &v, 4);
    std::memcpy(dst + n - 4, &w, 4);
  } else {
    for (int k = 0; k < n; ++k) dst[k] = static_cast<uint8_t>(static_cast<uint8_t>(src[k]) ^ static_cast<uint8_t>(flip8));
  }
}

// copy_row for a row of `n` bytes with `left` bytes still to pack from dst on (this row's
// included), reading no further than src_end: on 64-bit hosts a row of at most 16 bytes with 16
// or more still to pack goes in one 16-byte copy, the bytes past the row overwritten by the rows
// after it (the canonical int8 PrimaryCaps conv spent 21% of its time packing its 9-byte rows;
// 11% so). 32-bit cores keep copy_row, whose 4- and 8-byte words cost them less.
inline void copy_row_ahead(uint8_t* dst, const int8_t* src, int n, int left, const int8_t* src_end,
                           uint64_t flip8) {
#if UINTPTR_MAX > 0xFFFFFFFFu
  if (n <= 16 && left >= 16 && src_end - src >= 16) {
    uint64_t v[2];
    std::memcpy(v, src, 16);
    v[0] ^= flip8;
    v[1] ^= flip8;
    std::memcpy(dst, v, 16);
    return;
  }
#else
  (void)left;
  (void)src_end;
#endif
  copy_row(dst, src, n, flip8);
}

// Elements [k0, k1) of pixel `pixel`'s vector into col[0, k1 - k0): the kernel rows (c, ky) that
// meet the range, each copied whole or in part, walking the input with pointer steps.
inline void pack_conv_q_pixel(const kernels::Conv2DQParams& p, const int8_t* in, int pixel, uint8_t flip,
                              int k0, int k1, uint8_t* col) {
  const kernels::Conv2DParams& g = p.geom;
  const uint8_t pad = static_cast<uint8_t>(static_cast<uint8_t>(p.pad_value) ^ flip);
  const uint64_t flip8 = flip * uint64_t{0x0101010101010101};
  const int W = g.in_width, kw = g.kernel_w, kh = g.kernel_h;
  const int oy = pixel / g.out_width, ox = pixel % g.out_width;
  const int iy0 = oy * g.stride_h - g.pad_h, ix0 = ox * g.stride_w - g.pad_w;
  const bool inside = iy0 >= 0 && ix0 >= 0 && iy0 + kh <= g.in_height && ix0 + kw <= W;
  if (inside && k0 == 0 && k1 == conv_q_depth(g)) {
    // The whole vector of a window inside the input: its kernel rows copied one after another,
    // without the walk's bookkeeping below (a 7-byte row took 30 instructions on a Cortex-M4
    // through the walk, 12 here).
    // (16-byte copies as in the walk below measured no faster here: the small network's convs.)
    const int8_t* x = in + static_cast<size_t>(iy0) * W + ix0;
    const size_t next_plane = static_cast<size_t>(g.in_height - kh) * W;  // from past a plane's last row
    for (int c = 0; c < g.in_channels; ++c, x += next_plane)
      for (int ky = 0; ky < kh; ++ky, x += W, col += kw) copy_row(col, x, kw, flip8);
    return;
  }
  const int first_row = k0 / kw;  // row = c * kernel_h + ky
  int c = first_row / kh, ky = first_row % kh, off = k0 - first_row * kw, left = k1 - k0;
  const int8_t* x = in + static_cast<size_t>(c) * g.in_height * W;  // channel c's plane
  const int8_t* in_end = in + static_cast<size_t>(g.in_channels) * g.in_height * W;
  while (left > 0) {
    const int take = kw - off < left ? kw - off : left, iy = iy0 + ky;
    if (inside) {
      copy_row_ahead(col, x + iy * W + ix0 + off, take, left, in_end, flip8);
    } else {
      for (int kx = off; kx < off + take; ++kx) {
        const int ix = ix0 + kx;
        col[kx - off] = iy >= 0 && iy < g.in_height && ix >= 0 && ix < W
                            ? static_cast<uint8_t>(static_cast<uint8_t>(x[iy * W + ix]) ^ flip)
                            : pad;
      }
    }
    col += take;
    left -= take;
    off = 0;
    if (++ky == kh) {
      ky = 0;
      x += static_cast<size_t>(g.in_height) * W;
    }
  }
}

// Groups [q0, q0 + qn) of pixels n0 .. n0 + nr - 1 into the panel, in the layout.
template <PanelLayout kLayout>
inline void pack_conv_q_panel(const kernels::Conv2DQParams& p, const int8_t* in, int n0, int nr, int q0,
                              int qn, uint8_t flip, uint8_t* panel, uint8_t* column) {
  const kernels::Conv2DParams& g = p.geom;
  const int pixels = g.out_height * g.out_width, K = conv_q_depth(g);
  const int k0 = 4 * q0, k1 = 4 * (q0 + qn), real = (K < k1 ? K : k1) - k0;  // k >= K packs 0
  for (int n = 0; n < nr; ++n) {
    const int pixel = n0 + n;
    uint8_t* col = kLayout == PanelLayout::kPixelMajor ? panel + static_cast<size_t>(n) * (k1 - k0) : column;
    if (pixel >= pixels) {
      std::memset(col, 0, static_cast<size_t>(k1 - k0));
    } else {
      pack_conv_q_pixel(p, in, pixel, flip, k0, k0 + real, col);
      for (int k = real; k < k1 - k0; ++k) col[k] = 0;
    }
    if (kLayout == PanelLayout::kInterleaved)
      for (int q = 0; q < qn; ++q) std::memcpy(panel + (q * nr + n) * 4, column + 4 * q, 4);
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

// The loop every SIMD int8 conv runs, over panels [panel_begin, panel_end) of NR pixels (all of
// them: run_conv_q). For each panel and each chunk of the reduction (packed once), for each block
// of MR x L output channels,
//   accumulate(o0, panel, q0, qn, first, y)  adds the products of groups [q0, q0 + qn) to the
//                                            raw sums y (which it sets if `first`);
// after the last chunk requantise(o0, y) turns them into the block's outputs (as ref::conv2d_q
// computes them), which are then stored.
template <int MR, int NR, int L, PanelLayout kLayout, class Accumulate, class Requantise>
inline void run_conv_q_panels(const kernels::Conv2DQParams& p, const int8_t* in, uint8_t flip,
                              const ConvQScratch& s, void* out, Accumulate& accumulate, Requantise& requantise,
                              int panel_begin, int panel_end) {
  const kernels::Conv2DParams& g = p.geom;
  const int pixels = g.out_height * g.out_width, groups = conv_q_groups(g), chunk = conv_q_chunk_groups(g);
  using Tile = int32_t[MR][NR][L];
  for (int n0 = panel_begin * NR; n0 < pixels && n0 < panel_end * NR; n0 += NR) {
    const int nr = pixels - n0 < NR ? pixels - n0 : NR;
    for (int q0 = 0; q0 < groups; q0 += chunk) {
      const int qn = groups - q0 < chunk ? groups - q0 : chunk;
      const bool first = q0 == 0, last = q0 + qn == groups;
      pack_conv_q_panel<kLayout>(p, in, n0, NR, q0, qn, flip, s.panel, s.column);
      for (int o0 = 0; o0 < g.out_channels; o0 += MR * L) {
        alignas(64) Tile local;
        Tile& y = s.partial == nullptr ? local : reinterpret_cast<Tile*>(s.partial)[o0 / (MR * L)];
        accumulate(o0, static_cast<const uint8_t*>(s.panel), q0, qn, first, y);
        if (last) {
          requantise(o0, y);
          store_conv_q_rows(p, y, o0, n0, nr, out);
        }
      }
    }
  }
}

template <int MR, int NR, int L, PanelLayout kLayout, class Accumulate, class Requantise>
inline void run_conv_q(const kernels::Conv2DQParams& p, const int8_t* in, uint8_t flip,
                       const ConvQScratch& s, void* out, Accumulate&& accumulate, Requantise&& requantise) {
  run_conv_q_panels<MR, NR, L, kLayout>(p, in, flip, s, out, accumulate, requantise, 0, INT32_MAX / NR);
}

// Threads (kernels/parallel.h): the bytes one more task needs beside the scratch carved by
// carve_conv_q_scratch (its panel, column and partial sums; the table is shared, read only), and
// the scratch of a kernel that runs run_conv_q_threads.
inline uint64_t conv_q_task_bytes(const kernels::Conv2DParams& g, int nr, PanelLayout layout) {
  const uint64_t kc = static_cast<uint64_t>(conv_q_chunk_groups(g)) * 4, nr64 = static_cast<uint64_t>(nr);
  return kernels::align_up(kc * nr64) + (layout == PanelLayout::kInterleaved ? kernels::align_up(kc) : 0) +
         (conv_q_groups(g) > kConvQChunkGroups
              ? kernels::align_up(static_cast<uint64_t>(conv_q_table_channels(g)) * nr64 * 4)
              : 0);
}
inline uint64_t conv_q_scratch_size_threads(const kernels::Conv2DParams& g, int nr, PanelLayout layout) {
  const int extra = g.threads > 1 ? g.threads - 1 : 0;
  return conv_q_scratch_size(g, nr, layout) + static_cast<uint64_t>(extra) * conv_q_task_bytes(g, nr, layout);
}

// run_conv_q with the panels cut among at most g.threads tasks (for a conv of
// kParallelMinConvMacs or more): task 0 uses `s` (which
// carve_conv_q_scratch made at the start of the scratch), task t > 0 its own panel, column and
// partial sums after it (conv_q_scratch_size_threads). Each output pixel is in one panel, whose
// sums do not depend on the cut.
template <int MR, int NR, int L, PanelLayout kLayout, class Accumulate, class Requantise>
inline void run_conv_q_threads(const kernels::Conv2DQParams& p, const int8_t* in, uint8_t flip,
                               const ConvQScratch& s, void* out, Accumulate&& accumulate, Requantise&& requantise) {
  const kernels::Conv2DParams& g = p.geom;
  const int panels = (g.out_height * g.out_width + NR - 1) / NR;
  const int64_t macs = int64_t{g.out_channels} * g.out_height * g.out_width * conv_q_depth(g);
  const kernels::Parallel* par = kernels::worth_splitting(g.parallel, macs, kernels::kParallelMinConvMacs);
  const int tasks = kernels::task_count(par, g.threads, panels);
  uint8_t* extra = s.panel + conv_q_scratch_size(g, NR, kLayout);
  const uint64_t task_bytes = conv_q_task_bytes(g, NR, kLayout);
  kernels::run_tasks(par, tasks, [&](int t) {
    ConvQScratch st = s;
    if (t > 0) {
      uint8_t* at = extra + static_cast<uint64_t>(t - 1) * task_bytes;
      const uint64_t kc = static_cast<uint64_t>(conv_q_chunk_groups(g)) * 4;
      st.panel = at;
      at += kernels::align_up(kc * NR);
      if (kLayout == PanelLayout::kInterleaved) {
        st.column = at;
        at += kernels::align_up(kc);
      }
      if (s.partial != nullptr) st.partial = reinterpret_cast<int32_t*>(at);
    }
    const kernels::Share sh = kernels::task_share(panels, tasks, t);
    run_conv_q_panels<MR, NR, L, kLayout>(p, in, flip, st, out, accumulate, requantise,
                                          static_cast<int>(sh.begin), static_cast<int>(sh.end));
  });
}

}  // namespace simd
}  // namespace capsrt

#endif
