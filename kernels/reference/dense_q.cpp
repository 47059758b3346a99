#include "reference.h"

namespace capsrt {
namespace ref {

void dense_q(const DenseQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
             const int32_t* requant, int8_t* out) {
  for (int n = 0; n < p.out_features; ++n) {
    int32_t acc = bias[n];
    for (int k = 0; k < p.in_features; ++k)
      acc += weights[k4o_index(p.out_features, n, k)] * in[k];
    out[n] = dense_q_output(p, acc, requant[2 * n], requant[2 * n + 1]);
  }
}

}  // namespace ref
}  // namespace capsrt
