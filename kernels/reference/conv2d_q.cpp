#include "reference.h"

namespace capsrt {
namespace ref {

// acc = bias[o] + sum over (c, ky, kx) of w(o, k) x in (a padded tap reads pad_value), then
// requantised and clamped. Every sum is exact in int32: the validator bounds K and the bias.
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out) {
  const Conv2DParams& g = p.geom;
  const int out_plane = g.out_height * g.out_width;
  for (int o = 0; o < g.out_channels; ++o) {
    for (int oy = 0; oy < g.out_height; ++oy) {
      for (int ox = 0; ox < g.out_width; ++ox) {
        int32_t acc = bias[o];
        for (int c = 0; c < g.in_channels; ++c) {
          for (int ky = 0; ky < g.kernel_h; ++ky) {
            const int iy = oy * g.stride_h + ky - g.pad_h;
            for (int kx = 0; kx < g.kernel_w; ++kx) {
              const int ix = ox * g.stride_w + kx - g.pad_w;
              const int k = (c * g.kernel_h + ky) * g.kernel_w + kx;
              const bool inside = iy >= 0 && iy < g.in_height && ix >= 0 && ix < g.in_width;
              const int32_t x = inside ? in[(c * g.in_height + iy) * g.in_width + ix] : p.pad_value;
              acc += weights[k4o_index(g.out_channels, o, k)] * x;
            }
          }
        }
        const int32_t y = fx::clamp32(fx::requantize(acc, requant[2 * o], requant[2 * o + 1]),
                                      p.out_min, p.out_max);
        const int at = o * out_plane + oy * g.out_width + ox;
        if (p.out_bytes == 2)
          static_cast<int16_t*>(out)[at] = static_cast<int16_t>(y);
        else
          static_cast<int8_t*>(out)[at] = static_cast<int8_t>(y);
      }
    }
  }
}

}  // namespace ref
}  // namespace capsrt
