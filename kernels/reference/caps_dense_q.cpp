#include "reference.h"

namespace capsrt {
namespace ref {

namespace {

struct Scratch {
  int16_t* u_hat;  // [J,I,DO]; NULL in low-memory mode
  int32_t* V;      // [J,DO] Q15: the sum of the class capsules of the iterations so far
  int64_t* S;      // [J,DO]: sum_i c u_hat, in Q(15 + F_u[j])
  int32_t* b;      // [max(J,I)] logits, Q16
  int32_t* c;      // [max(J,I)] coupling, Q15
  int16_t* column; // [J,DO]: the predictions of one input capsule (low-memory mode)
};

Scratch carve(const CapsDenseQParams& p, void* scratch) {
  const CapsPredictParams& q = p.predict;
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim;
  const uint64_t n = static_cast<uint64_t>(q.out_caps > q.in_caps ? q.out_caps : q.in_caps);
  kernels::ScratchCarver carve{scratch};
  Scratch s{};
  if (!p.low_memory) s.u_hat = carve.take<int16_t>(jd * static_cast<uint64_t>(q.in_caps));
  s.V = carve.take<int32_t>(jd);
  s.S = carve.take<int64_t>(jd);
  s.b = carve.take<int32_t>(n);
  s.c = carve.take<int32_t>(n);
  s.column = carve.take<int16_t>(jd);
  return s;
}

// u_hat[j,i,:] = clamp(requantise(sum_k W[j,i,d,k] u[i,k], mult[j], shift[j]), +-32767), Q F_u[j].
void predict(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
             const int32_t* requant, int j, int i, int16_t* out) {
  const CapsPredictParams& q = p.predict;
  for (int d = 0; d < q.out_dim; ++d) {
    int32_t acc = 0;
    for (int k = 0; k < q.in_dim; ++k)
      acc += weights[caps_weight_index(q, j, i, d, k)] * u[i * q.in_dim + k];
    out[d] = static_cast<int16_t>(
        fx::clamp32(fx::requantize(acc, requant[3 * j], requant[3 * j + 1]), -32767, 32767));
  }
}

// b[j,i] = u_hat[j,i] . V[j]: Q(F_u + 15) in 64 bits (< 2^42), shifted to Q16.
int32_t logit(const int16_t* u_hat, const int32_t* V, int dim, int32_t f_u) {
  int64_t dot = 0;
  for (int d = 0; d < dim; ++d) dot += int64_t{u_hat[d]} * V[d];
  return fx::clamp32(fx::shift_round(dot, f_u - 1), INT32_MIN, INT32_MAX);
}

}  // namespace

uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p) {
  const CapsPredictParams& q = p.predict;
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim;
  const uint64_t n = static_cast<uint64_t>(q.out_caps > q.in_caps ? q.out_caps : q.in_caps);
  const uint64_t u_hat = p.low_memory ? 0 : kernels::align_up(jd * static_cast<uint64_t>(q.in_caps) * sizeof(int16_t));
  return u_hat + kernels::align_up(jd * sizeof(int32_t)) + kernels::align_up(jd * sizeof(int64_t)) +
         2 * kernels::align_up(n * sizeof(int32_t)) + kernels::align_up(jd * sizeof(int16_t));
}

void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch) {
  const CapsPredictParams& q = p.predict;
  const int I = q.in_caps, J = q.out_caps, D = q.out_dim;
  const Scratch s = carve(p, scratch);
  if (!p.low_memory)
    for (int j = 0; j < J; ++j)
      for (int i = 0; i < I; ++i) predict(p, u, weights, requant, j, i, s.u_hat + (static_cast<size_t>(j) * I + i) * D);
  // The predictions of (j, i): stored, or computed into `tmp`.
  auto prediction = [&](int j, int i, int16_t* tmp) -> const int16_t* {
    if (!p.low_memory) return s.u_hat + (static_cast<size_t>(j) * I + i) * D;
    predict(p, u, weights, requant, j, i, tmp);
    return tmp;
  };
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;

  for (int iter = 0; iter < p.iterations; ++iter) {
    for (int n = 0; n < J * D; ++n) s.S[n] = 0;
    if (p.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS) {
      // One input capsule at a time: its J logits, their softmax, its share of every s_j.
      for (int i = 0; i < I; ++i) {
        for (int j = 0; j < J; ++j) {
          const int16_t* uh = prediction(j, i, s.column + j * D);
          s.b[j] = logit(uh, s.V + j * D, D, requant[3 * j + 2]);
        }
        fx::softmax_q15(s.b, J, 1, s.c);
        for (int j = 0; j < J; ++j) {
          const int16_t* uh = p.low_memory ? s.column + j * D : prediction(j, i, nullptr);
          for (int d = 0; d < D; ++d) s.S[j * D + d] += int64_t{s.c[j]} * uh[d];
        }
      }
    } else {
      // One class at a time: its I logits, their softmax over the inputs, its s_j.
      for (int j = 0; j < J; ++j) {
        for (int i = 0; i < I; ++i)
          s.b[i] = logit(prediction(j, i, s.column), s.V + j * D, D, requant[3 * j + 2]);
        fx::softmax_q15(s.b, I, 1, s.c);
        for (int i = 0; i < I; ++i) {
          const int16_t* uh = prediction(j, i, s.column);
          for (int d = 0; d < D; ++d) s.S[j * D + d] += int64_t{s.c[i]} * uh[d];
        }
      }
    }
    // v_j = squash(s_j), s_j moved from Q(15 + F_u[j]) to the squash's input format.
    for (int j = 0; j < J; ++j)
      fx::routing_squash_q(p.squash, s.S + j * D, D, 15 + requant[3 * j + 2] - p.squash.in_frac,
                           iter + 1 < p.iterations, v + j * D, s.V + j * D);
  }
}

}  // namespace ref
}  // namespace capsrt
