#include <cfloat>
#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

namespace {

constexpr int kPose = 16;  // a 4x4 pose matrix
constexpr size_t kAlign = 64;

size_t rounded(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

}  // namespace

uint64_t em_routing_f32_scratch_size(const EmRoutingParams& p) {
  const size_t I = static_cast<size_t>(p.in_caps), C = static_cast<size_t>(p.out_caps);
  return rounded(C * I * sizeof(float)) + rounded(C * kPose * sizeof(float)) + rounded(C * sizeof(float)) +
         rounded(I * sizeof(float));
}

// In the order of operations of yl-1993's m_step and e_step (model/capsules.py), one position:
//   M-step: r <- r a_in; (renormalised: r <- r / (sum_c r + eps));  R_c = sum_i r;
//           coeff = r / (R_c + eps);  mu_c = sum_i coeff V;  sigma^2_c = sum_i coeff (V - mu)^2 + eps;
//           cost_c = sum_h (beta_u + log sqrt(sigma^2_ch)) R_c;  a_c = sigmoid(lambda (beta_a - cost_c))
//   E-step: ln p_ci = sum_h [-(V - mu)^2 / (2 sigma^2) - log sqrt(sigma^2) - ln(2 pi)/2];
//           r_ci = softmax over c of (ln p_ci + ln a_c)
// r starts at 1/C; the last iteration skips the E-step.
void em_routing_f32(const EmRoutingParams& p, const float* votes, const float* a_in, const float* beta_u,
                    const float* beta_a, float* mu, float* a_out, void* scratch) {
  const int I = p.in_caps, C = p.out_caps;
  unsigned char* s = static_cast<unsigned char*>(scratch);
  float* r = reinterpret_cast<float*>(s);  // [C, I]
  s += rounded(static_cast<size_t>(C) * I * sizeof(float));
  float* sigma_sq = reinterpret_cast<float*>(s);  // [C, 16]
  s += rounded(static_cast<size_t>(C) * kPose * sizeof(float));
  float* r_sum = reinterpret_cast<float*>(s);  // [C]
  s += rounded(static_cast<size_t>(C) * sizeof(float));
  float* col = reinterpret_cast<float*>(s);  // [I]
  const float half_ln_2pi = 0.5f * std::log(2.0f * 3.14159265358979f);

  for (int n = 0; n < C * I; ++n) r[n] = 1.0f / static_cast<float>(C);
  for (int it = 0; it < p.iterations; ++it) {
    // --- M-step ---
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < I; ++i) r[c * I + i] *= a_in[i];
    if (p.m_step == kEmMStepRenormalised) {
      for (int i = 0; i < I; ++i) col[i] = 0.0f;
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < I; ++i) col[i] += r[c * I + i];
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < I; ++i) r[c * I + i] /= col[i] + p.eps;
    }
    for (int c = 0; c < C; ++c) {
      float* rc = r + c * I;
      float sum = 0.0f;
      for (int i = 0; i < I; ++i) sum += rc[i];
      r_sum[c] = sum;
      for (int i = 0; i < I; ++i) rc[i] /= sum + p.eps;  // now the coefficients of the means
      float* m = mu + c * kPose;
      float* var = sigma_sq + c * kPose;
      for (int h = 0; h < kPose; ++h) m[h] = var[h] = 0.0f;
      for (int i = 0; i < I; ++i) {
        const float* v = votes + (static_cast<size_t>(c) * I + i) * kPose;
        for (int h = 0; h < kPose; ++h) m[h] += rc[i] * v[h];
      }
      for (int i = 0; i < I; ++i) {
        const float* v = votes + (static_cast<size_t>(c) * I + i) * kPose;
        for (int h = 0; h < kPose; ++h) {
          const float d = v[h] - m[h];
          var[h] += rc[i] * d * d;
        }
      }
      float cost = 0.0f;
      for (int h = 0; h < kPose; ++h) {
        var[h] += p.eps;
        cost += (beta_u[c] + std::log(std::sqrt(var[h]))) * sum;
      }
      a_out[c] = 1.0f / (1.0f + std::exp(-p.lambda * (beta_a[c] - cost)));
    }
    if (it + 1 == p.iterations && !p.e_step_after_last) break;
    // --- E-step --- (a_out at least FLT_MIN in the log: a hostile beta_a cannot make it -inf)
    for (int c = 0; c < C; ++c) {
      const float* m = mu + c * kPose;
      const float* var = sigma_sq + c * kPose;
      float log_sigma_sum = 0.0f;
      for (int h = 0; h < kPose; ++h) log_sigma_sum += std::log(std::sqrt(var[h])) + half_ln_2pi;
      const float ln_a = std::log(a_out[c] > FLT_MIN ? a_out[c] : FLT_MIN);
      for (int i = 0; i < I; ++i) {
        const float* v = votes + (static_cast<size_t>(c) * I + i) * kPose;
        float q = 0.0f;
        for (int h = 0; h < kPose; ++h) {
          const float d = v[h] - m[h];
          q += d * d / (2.0f * var[h]);
        }
        r[c * I + i] = -q - log_sigma_sum + ln_a;
      }
    }
    for (int i = 0; i < I; ++i) softmax_f32(r + i, r + i, C, I);
  }
}

}  // namespace ref
}  // namespace capsrt
