#include "reference.h"

namespace capsrt {
namespace ref {

void caps_predict_f32(const CapsPredictParams& p, const float* u, const float* weights,
                      float* u_hat) {
  for (int j = 0; j < p.out_caps; ++j) {
    for (int i = 0; i < p.in_caps; ++i) {
      const float* ui = u + i * p.in_dim;
      float* out = u_hat + (j * p.in_caps + i) * p.out_dim;
      for (int d = 0; d < p.out_dim; ++d) {
        float acc = 0.0f;
        for (int k = 0; k < p.in_dim; ++k) acc += weights[caps_weight_index(p, j, i, d, k)] * ui[k];
        out[d] = acc;
      }
    }
  }
}

}  // namespace ref
}  // namespace capsrt
