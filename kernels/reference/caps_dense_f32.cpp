#include "reference.h"

namespace capsrt {
namespace ref {

// u_hat [J,I,DO], then logits [J,I], then coupling [J,I], each rounded up to 64 bytes.
// In 64 bits: on a 32-bit target the three buffers together may pass 4 GiB (the arena plan
// rejects that), each alone is within CAPS_MAX_BUFFER_BYTES.
uint64_t caps_dense_f32_scratch_size(const CapsDenseParams& p) {
  const uint64_t J = static_cast<uint64_t>(p.predict.out_caps), I = static_cast<uint64_t>(p.predict.in_caps);
  const uint64_t ji = J * I, D = static_cast<uint64_t>(p.predict.out_dim);
  if (p.low_memory)  // V [J,DO], S [J,DO], one column of predictions [J,DO], logits and coupling [max(J,I)]
    return 3 * kernels::align_up(J * D * sizeof(float)) + 2 * kernels::align_up((J > I ? J : I) * sizeof(float));
  return kernels::align_up(ji * p.predict.out_dim * sizeof(float)) + 2 * kernels::align_up(ji * sizeof(float));
}

namespace {

// Low-memory routing: the same procedure as dynamic_routing_f32 with b[j,i] = u_hat[j,i] . V[j],
// V[j] the sum of the class capsules of the earlier iterations (equal to the sum of the
// agreements, in another rounding order), and every prediction recomputed from W and u.
void caps_dense_low_memory(const CapsDenseParams& p, const float* u, const float* weights,
                           float* v, void* scratch) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, J = q.out_caps, D = q.out_dim;
  const size_t jd = static_cast<size_t>(J) * D, n = static_cast<size_t>(J > I ? J : I);
  kernels::ScratchCarver carve{scratch};
  float* V = carve.take(jd);
  float* S = carve.take(jd);
  float* column = carve.take(jd);
  float* b = carve.take(n);
  float* c = carve.take(n);
  auto predict = [&](int j, int i, float* out) {
    for (int d = 0; d < D; ++d) {
      float acc = 0.0f;
      for (int k = 0; k < q.in_dim; ++k) acc += weights[caps_weight_index(q, j, i, d, k)] * u[i * q.in_dim + k];
      out[d] = acc;
    }
  };
  auto dot = [D](const float* a, const float* x) {
    float r = 0.0f;
    for (int d = 0; d < D; ++d) r += a[d] * x[d];
    return r;
  };
  for (size_t k = 0; k < jd; ++k) V[k] = 0.0f;
  for (int iter = 0; iter < p.routing.iterations; ++iter) {
    for (size_t k = 0; k < jd; ++k) S[k] = 0.0f;
    if (p.routing.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS) {
      for (int i = 0; i < I; ++i) {
        for (int j = 0; j < J; ++j) {
          predict(j, i, column + j * D);
          b[j] = dot(column + j * D, V + j * D);
        }
        softmax_f32(b, c, J, 1);
        for (int j = 0; j < J; ++j)
          for (int d = 0; d < D; ++d) S[j * D + d] += c[j] * column[j * D + d];
      }
    } else {
      for (int j = 0; j < J; ++j) {
        for (int i = 0; i < I; ++i) {
          predict(j, i, column);
          b[i] = dot(column, V + j * D);
        }
        softmax_f32(b, c, I, 1);
        for (int i = 0; i < I; ++i) {
          predict(j, i, column);
          for (int d = 0; d < D; ++d) S[j * D + d] += c[i] * column[d];
        }
      }
    }
    squash_f32(p.routing.squash, S, v, J, D);
    if (iter + 1 < p.routing.iterations)
      for (size_t k = 0; k < jd; ++k) V[k] += v[k];
  }
}

}  // namespace

void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch) {
  if (p.low_memory) {
    caps_dense_low_memory(p, u, weights, v, scratch);
    return;
  }
  const size_t ji = static_cast<size_t>(p.predict.out_caps) * p.predict.in_caps;
  kernels::ScratchCarver carve{scratch};
  float* u_hat = carve.take(ji * p.predict.out_dim);
  float* logits = carve.take(ji);
  float* coupling = carve.take(ji);
  caps_predict_f32(p.predict, u, weights, u_hat);
  dynamic_routing_f32(p.routing, u_hat, logits, coupling, v);
}

}  // namespace ref
}  // namespace capsrt
