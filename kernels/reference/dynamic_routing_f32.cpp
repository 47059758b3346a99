#include "reference.h"

namespace capsrt {
namespace ref {

// b: logits [J,I]; c: coupling coefficients [J,I].
void dynamic_routing_f32(const RoutingParams& p, const float* u_hat, float* logits,
                         float* coupling, float* v) {
  const int I = p.in_caps, J = p.out_caps, D = p.out_dim;
  for (int n = 0; n < J * I; ++n) logits[n] = 0.0f;

  for (int iter = 0; iter < p.iterations; ++iter) {
    // c = softmax(b) along the configured axis.
    if (p.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS) {
      for (int i = 0; i < I; ++i) softmax_f32(logits + i, coupling + i, J, I);
    } else {
      for (int j = 0; j < J; ++j) softmax_f32(logits + j * I, coupling + j * I, I, 1);
    }
    // s_j = sum_i c[j,i] u_hat[j,i];  v_j = squash(s_j)
    for (int j = 0; j < J; ++j) {
      float* vj = v + j * D;
      for (int d = 0; d < D; ++d) vj[d] = 0.0f;
      for (int i = 0; i < I; ++i) {
        const float c = coupling[j * I + i];
        const float* u = u_hat + (j * I + i) * D;
        for (int d = 0; d < D; ++d) vj[d] += c * u[d];
      }
    }
    squash_f32(p.squash, v, v, J, D);
    // Agreement: b[j,i] += u_hat[j,i] . v_j, on all but the last iteration.
    if (iter + 1 < p.iterations) {
      for (int j = 0; j < J; ++j) {
        const float* vj = v + j * D;
        for (int i = 0; i < I; ++i) {
          const float* u = u_hat + (j * I + i) * D;
          float dot = 0.0f;
          for (int d = 0; d < D; ++d) dot += u[d] * vj[d];
          logits[j * I + i] += dot;
        }
      }
    }
  }
}

}  // namespace ref
}  // namespace capsrt
