#include "reference.h"

namespace capsrt {
namespace ref {

void group_capsules_f32(const GroupingParams& p, const float* conv_out, float* capsules) {
  const int plane = p.height * p.width;
  const int total = p.channels * plane;
  const int dim = p.dim;
  switch (p.mode) {
    case CAPS_GROUPING_NCHW_VIEW:
      // Capsule i is flat[D*i .. D*i+D-1] of the NCHW buffer: already in place.
      for (int f = 0; f < total; ++f) capsules[f] = conv_out[f];
      break;
    case CAPS_GROUPING_NHWC_CHANNELS: {
      // Capsule (y*W+x)*G + g, component k, is channel g*D+k at pixel (y,x).
      const int groups = p.channels / dim;
      for (int pix = 0; pix < plane; ++pix)
        for (int g = 0; g < groups; ++g)
          for (int k = 0; k < dim; ++k)
            capsules[(pix * groups + g) * dim + k] = conv_out[(g * dim + k) * plane + pix];
      break;
    }
    case CAPS_GROUPING_PER_DIM_CONV: {
      // Capsule g*H*W + pix, component k, is channel k*G+g (conv k's channel g) at pixel pix.
      const int groups = p.channels / dim;
      for (int g = 0; g < groups; ++g)
        for (int pix = 0; pix < plane; ++pix)
          for (int k = 0; k < dim; ++k)
            capsules[(g * plane + pix) * dim + k] = conv_out[(k * groups + g) * plane + pix];
      break;
    }
  }
}

}  // namespace ref
}  // namespace capsrt
