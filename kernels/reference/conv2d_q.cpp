#include "reference.h"

namespace capsrt {
namespace ref {

uint64_t conv2d_q_scratch_size(const Conv2DQParams& p) {
  return static_cast<uint64_t>(p.geom.out_height) * p.geom.out_width * sizeof(int32_t);
}

// For each output channel o: acc = bias[o] + sum over (c, ky, kx) of w(o, k) x in (a padded tap
// reads pad_value), accumulated one weight at a time over the whole output plane (an int32 plane
// in scratch), then requantised and clamped. Every sum is exact in int32: the validator bounds K
// and the bias.
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch) {
  const Conv2DParams& g = p.geom;
  const int out_plane = g.out_height * g.out_width;
  int32_t* acc = static_cast<int32_t*>(scratch);
  for (int o = 0; o < g.out_channels; ++o) {
    for (int n = 0; n < out_plane; ++n) acc[n] = bias[o];
    for (int c = 0; c < g.in_channels; ++c) {
      const int8_t* x = in + c * g.in_height * g.in_width;
      for (int ky = 0; ky < g.kernel_h; ++ky) {
        for (int kx = 0; kx < g.kernel_w; ++kx) {
          const int k = (c * g.kernel_h + ky) * g.kernel_w + kx;
          const int32_t w = weights[k4o_index(g.out_channels, o, k)];
          // Output columns whose tap lies inside the input: [lo, hi); the others read padding.
          int lo = 0, hi = g.out_width;
          while (lo < hi && lo * g.stride_w + kx - g.pad_w < 0) ++lo;
          while (hi > lo && (hi - 1) * g.stride_w + kx - g.pad_w >= g.in_width) --hi;
          for (int oy = 0; oy < g.out_height; ++oy) {
            const int iy = oy * g.stride_h + ky - g.pad_h;
            int32_t* a = acc + oy * g.out_width;
            if (iy < 0 || iy >= g.in_height) {
              for (int ox = 0; ox < g.out_width; ++ox) a[ox] += w * p.pad_value;
              continue;
            }
            const int8_t* row = x + iy * g.in_width + kx - g.pad_w;
            for (int ox = 0; ox < lo; ++ox) a[ox] += w * p.pad_value;
            for (int ox = lo; ox < hi; ++ox) a[ox] += w * row[ox * g.stride_w];
            for (int ox = hi; ox < g.out_width; ++ox) a[ox] += w * p.pad_value;
          }
        }
      }
    }
    for (int n = 0; n < out_plane; ++n) {
      const int32_t y = fx::clamp32(fx::requantize(acc[n], requant[2 * o], requant[2 * o + 1]),
                                    p.out_min, p.out_max);
      if (p.out_bytes == 2)
        static_cast<int16_t*>(out)[o * out_plane + n] = static_cast<int16_t>(y);
      else
        static_cast<int8_t*>(out)[o * out_plane + n] = static_cast<int8_t>(y);
    }
  }
}

}  // namespace ref
}  // namespace capsrt
