#include "reference.h"

namespace capsrt {
namespace ref {

void primary_squash_q(const PrimarySquashQParams& p, const int16_t* conv_out, int8_t* capsules) {
  const int dim = p.group.dim;
  int32_t s[64];  // dim <= 64 (op_infer)
  const size_t stride = capsule_component_stride(p.group);
  for (int i = 0; i < p.count; ++i) {
    const int16_t* x = conv_out + capsule_source_index(p.group, i, 0);
    for (int k = 0; k < dim; ++k) s[k] = x[k * stride];
    fx::squash_vector_q(p.squash, s, dim, 127, capsules + static_cast<size_t>(i) * dim);
  }
}

}  // namespace ref
}  // namespace capsrt
