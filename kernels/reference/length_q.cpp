#include "reference.h"

namespace capsrt {
namespace ref {

void length_q(const int16_t* v, int32_t* out, int count, int dim, uint32_t eps_q30, bool softmax) {
  for (int j = 0; j < count; ++j) out[j] = fx::length_q15(v + j * dim, dim, eps_q30);
  if (softmax) {
    for (int j = 0; j < count; ++j) out[j] *= 2;  // Q15 lengths as Q16 logits (< 2^17)
    fx::softmax_q15(out, count, 1, out);
  }
}

}  // namespace ref
}  // namespace capsrt
