#include <cfloat>
#include <cmath>

#include "reference.h"

namespace capsrt {
namespace ref {

namespace {

constexpr int kPose = 16;  // a 4x4 pose matrix

}  // namespace

uint64_t em_routing_f32_scratch_size(const EmRoutingParams& p) {
  const uint64_t I = static_cast<uint64_t>(p.in_caps), C = static_cast<uint64_t>(p.out_caps);
  return kernels::align_up(C * I * sizeof(float)) + kernels::align_up(C * kPose * sizeof(float)) +
         kernels::align_up(C * sizeof(float)) + kernels::align_up(I * sizeof(float));
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
  kernels::ScratchCarver carve{scratch};
  float* r = carve.take(static_cast<uint64_t>(C) * I);             // [C, I]
  float* sigma_sq = carve.take(static_cast<uint64_t>(C) * kPose);  // [C, 16]
  float* r_sum = carve.take(static_cast<uint64_t>(C));             // [C]
  float* col = carve.take(static_cast<uint64_t>(I));               // [I]
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
