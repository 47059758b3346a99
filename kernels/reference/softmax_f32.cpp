#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

void softmax_f32(const float* in, float* out, int count, int stride) {
  float max = in[0];
  for (int n = 1; n < count; ++n) max = in[n * stride] > max ? in[n * stride] : max;
  float sum = 0.0f;
  for (int n = 0; n < count; ++n) {
    out[n * stride] = std::exp(in[n * stride] - max);
    sum += out[n * stride];
  }
  const float inv = 1.0f / sum;  // sum >= 1: the max term is exp(0)
  for (int n = 0; n < count; ++n) out[n * stride] *= inv;
}

}  // namespace ref
}  // namespace capsrt
