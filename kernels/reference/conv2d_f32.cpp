#include "reference.h"

namespace capsrt {
namespace ref {

void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out) {
  const int out_plane = p.out_height * p.out_width;
  for (int o = 0; o < p.out_channels; ++o) {
    float* y = out + o * out_plane;
    for (int i = 0; i < out_plane; ++i) y[i] = bias[o];
    // Accumulate one weight at a time over the whole output plane: same sums, readable order.
    for (int c = 0; c < p.in_channels; ++c) {
      const float* x = in + c * p.in_height * p.in_width;
      for (int ky = 0; ky < p.kernel_h; ++ky) {
        for (int kx = 0; kx < p.kernel_w; ++kx) {
          const float w = weights[conv_weight_index(p, o, c, ky, kx)];
          for (int oy = 0; oy < p.out_height; ++oy) {
            const int iy = oy * p.stride_h + ky - p.pad_h;
            if (iy < 0 || iy >= p.in_height) continue;
            for (int ox = 0; ox < p.out_width; ++ox) {
              const int ix = ox * p.stride_w + kx - p.pad_w;
              if (ix < 0 || ix >= p.in_width) continue;
              y[oy * p.out_width + ox] += w * x[iy * p.in_width + ix];
            }
          }
        }
      }
    }
    if (p.activation == CAPS_ACT_RELU) {
      for (int i = 0; i < out_plane; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
    }
  }
}

}  // namespace ref
}  // namespace capsrt
