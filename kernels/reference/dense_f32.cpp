#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out) {
  for (int n = 0; n < p.out_features; ++n) {
    const float* w = weights + n * p.in_features;
    float acc = bias[n];
    for (int k = 0; k < p.in_features; ++k) acc += w[k] * in[k];
    if (p.activation == CAPS_ACT_RELU) acc = acc > 0.0f ? acc : 0.0f;
    if (p.activation == CAPS_ACT_SIGMOID) acc = 1.0f / (1.0f + std::exp(-acc));
    out[n] = acc;
  }
}

}  // namespace ref
}  // namespace capsrt
