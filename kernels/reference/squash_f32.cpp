#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim) {
  for (int n = 0; n < count; ++n) {
    const float* s = in + n * dim;
    float* v = out + n * dim;
    float norm2 = 0.0f;
    for (int d = 0; d < dim; ++d) norm2 += s[d] * s[d];
    float factor = 0.0f;  // the limit at |s| = 0, whatever eps is
    if (norm2 > 0.0f) {
      const float denom = p.eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? std::sqrt(norm2 + p.eps)
                                                                : std::sqrt(norm2) + p.eps;
      factor = norm2 / (1.0f + norm2) / denom;
    }
    for (int d = 0; d < dim; ++d) v[d] = s[d] * factor;
  }
}

}  // namespace ref
}  // namespace capsrt
