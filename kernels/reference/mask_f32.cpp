#include "reference.h"

namespace capsrt {
namespace ref {

void mask_f32(const float* v, float* out, int count, int dim, int keep) {
  for (int j = 0; j < count; ++j)
    for (int d = 0; d < dim; ++d) out[j * dim + d] = j == keep ? v[j * dim + d] : 0.0f;
}

}  // namespace ref
}  // namespace capsrt
