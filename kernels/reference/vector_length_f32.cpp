#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

void vector_length_f32(const float* v, float* out, int count, int dim, float eps) {
  for (int j = 0; j < count; ++j) {
    float sum = 0.0f;
    for (int d = 0; d < dim; ++d) sum += v[j * dim + d] * v[j * dim + d];
    out[j] = std::sqrt(sum + eps);
  }
}

}  // namespace ref
}  // namespace capsrt
