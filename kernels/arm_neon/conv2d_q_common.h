// What the two NEON int8 convolutions (conv2d_q.cpp, conv2d_q_dot.cpp) share: their weight
// blocks, and (arm_neon/fixed_point_neon.h) the requantisation Requant4.
#ifndef CAPSRT_KERNELS_ARM_NEON_CONV2D_Q_COMMON_H
#define CAPSRT_KERNELS_ARM_NEON_CONV2D_Q_COMMON_H

#include <arm_neon.h>

#include "arm_neon/fixed_point_neon.h"
#include "simd/conv2d_q_pack.h"

namespace capsrt {
namespace neon {

// Weight group q of output channels [o0, o0 + channels) in K4O (4 bytes a channel): in place,
// or, for a block past O, copied into `tail` with the missing channels' weights 0.
inline const int8_t* weight_block(const int8_t* weights, int O, int o0, int q, int channels, int8_t* tail) {
  const int8_t* wg = weights + (static_cast<size_t>(q) * O + o0) * 4;
  if (o0 + channels <= O) return wg;
  for (int b = 0; b < 4 * channels; ++b) tail[b] = o0 * 4 + b < O * 4 ? wg[b] : int8_t{0};
  return tail;
}


}  // namespace neon
}  // namespace capsrt

#endif
