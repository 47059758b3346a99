#include "reference.h"

namespace capsrt {
namespace ref {

void mask_q(const int16_t* v, int8_t* out, int count, int dim, int keep) {
  for (int j = 0; j < count; ++j)
    for (int d = 0; d < dim; ++d)
      out[j * dim + d] = j == keep ? static_cast<int8_t>(fx::clamp32(
                                         fx::shift_round(v[j * dim + d], 8), -127, 127))
                                   : int8_t{0};
}

}  // namespace ref
}  // namespace capsrt
