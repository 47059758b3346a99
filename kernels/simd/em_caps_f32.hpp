// SIMD EM capsule layers (ConvCaps and ClassCaps: votes and EM routing), written once over an
// xsimd arch and instantiated in kernels/<isa>/em_caps_f32.cpp. Must match ref::em_conv_caps_f32
// and ref::em_class_caps_f32 (kernels/reference/em_caps_f32.cpp, em_routing_f32.cpp) within
// float rounding; the scratch is simd/em_caps_scratch.h's.
//
// Blocking: a vote is 16 floats (a 4x4 pose), kept in NB = 16 / L vectors of L lanes (one
// AVX-512 register, two AVX2, four NEON), lane (p, r) of the matrix row-major. Everything the
// routing sums over (inputs i) is a loop of whole-vector FMAs on those registers:
//  - votes V_ij = M_i W_ij: V[p][r] = sum_q M[p][q] W[q][r]. For input i, the four vectors
//    a_q = (M[p][q] at every lane (p, r)) are made once and serve all C outputs; W's row q is
//    tiled four times across 16 floats once per run (scratch), so b_q is one load and each vote
//    is 4 FMAs per vector;
//  - the M-step's means and variances: per output c, the sums over i of coeff_ci V_ci and
//    coeff_ci (V_ci - mu_c)^2, one FMA per vector per input, broadcasting coeff_ci;
//  - the E-step's log-likelihood: (V - mu)^2 / (2 sigma^2) summed over the 16 lanes (one
//    horizontal add per (c, i));
//  - the couplings' renormalisation and the softmax over the outputs run across the inputs:
//    r is [C, I], so L consecutive inputs of one output are one vector.
// The 16 logs per output (log sigma, in the M-step's cost and the E-step's normaliser) are vector
// logs, summed across lanes (a per-lane order of the reference's sum: as 16 scalar logs they took
// a sixth of the ConvCaps' time); the sigmoid is scalar, as in the reference.
#ifndef CAPSRT_KERNELS_SIMD_EM_CAPS_F32_HPP
#define CAPSRT_KERNELS_SIMD_EM_CAPS_F32_HPP

#include <cfloat>
#include <cmath>
#include <xsimd/xsimd.hpp>

#include "parallel.h"
#include "simd/em_caps_scratch.h"

namespace capsrt {
namespace simd {

namespace em {

constexpr int kPose = 16;

struct Carve {  // 64-byte aligned floats from a scratch buffer, in order (as the reference's)
  unsigned char* at;
  float* take(uint64_t floats) {
    float* f = reinterpret_cast<float*>(at);
    at += kernels::align_up(floats * sizeof(float));
    return f;
  }
};

// w [n, 4, 4] -> tiled [n, 4 (q), 16]: row q of each transform four times.
inline void tile_transforms(const float* w, uint64_t n, float* tiled) {
  for (uint64_t k = 0; k < n; ++k)
    for (int q = 0; q < 4; ++q)
      for (int rep = 0; rep < 4; ++rep)
        for (int r = 0; r < 4; ++r) tiled[(k * 4 + q) * 16 + rep * 4 + r] = w[k * 16 + q * 4 + r];
}

// The votes of one input capsule (pose m, 16 floats) for `outputs` outputs: V_c = m W_c, written
// at votes + c * stride. wt: the tiled transforms of this input [outputs, 4, 16].
template <class A>
inline void votes_of_input(const float* m, const float* wt, int outputs, float* votes, size_t stride) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  constexpr int NB = kPose / L;
  static_assert(kPose % L == 0 && L % 4 == 0, "a vector holds whole rows of the pose");
  B a[4][NB];
  for (int q = 0; q < 4; ++q)
    for (int blk = 0; blk < NB; ++blk) {
      alignas(64) float lanes[L];
      for (int lane = 0; lane < L; ++lane) lanes[lane] = m[((blk * L + lane) / 4) * 4 + q];
      a[q][blk] = B::load_aligned(lanes);
    }
  for (int c = 0; c < outputs; ++c) {
    const float* w = wt + static_cast<size_t>(c) * 64;
    const B b0 = B::load_unaligned(w), b1 = B::load_unaligned(w + 16), b2 = B::load_unaligned(w + 32),
            b3 = B::load_unaligned(w + 48);
    float* v = votes + c * stride;
    for (int blk = 0; blk < NB; ++blk) {
      B acc = a[0][blk] * b0;
      acc = xsimd::fma(a[1][blk], b1, acc);
      acc = xsimd::fma(a[2][blk], b2, acc);
      acc = xsimd::fma(a[3][blk], b3, acc);
      acc.store_unaligned(v + blk * L);
    }
  }
}

// x[0..n) *= y[0..n) (or, divide, /= y)
template <class A>
inline void scale_row(float* x, const float* y, int n) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  int i = 0;
  for (; i + L <= n; i += L) (B::load_unaligned(x + i) * B::load_unaligned(y + i)).store_unaligned(x + i);
  for (; i < n; ++i) x[i] *= y[i];
}

template <class A>
inline float row_sum(const float* x, int n) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  B acc(0.0f);
  int i = 0;
  for (; i + L <= n; i += L) acc += B::load_unaligned(x + i);
  float sum = xsimd::hadd(acc);
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// EM routing of one position: ref::em_routing_f32's formulas, order of operations and scratch
// layout (r [C, I], sigma^2 [C, 16], r_sum [C], col [I]).
template <class A>
void routing(const kernels::EmRoutingParams& p, const float* votes, const float* a_in, const float* beta_u,
             const float* beta_a, float* mu, float* a_out, void* scratch) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  constexpr int NB = kPose / L;
  const int I = p.in_caps, C = p.out_caps;
  Carve carve{static_cast<unsigned char*>(scratch)};
  float* r = carve.take(static_cast<uint64_t>(C) * I);
  float* sigma_sq = carve.take(static_cast<uint64_t>(C) * kPose);
  float* r_sum = carve.take(static_cast<uint64_t>(C));
  float* col = carve.take(static_cast<uint64_t>(I));
  const float half_ln_2pi = 0.5f * std::log(2.0f * 3.14159265358979f);
  const B eps(p.eps);

  for (int n = 0; n < C * I; ++n) r[n] = 1.0f / static_cast<float>(C);
  for (int it = 0; it < p.iterations; ++it) {
    // --- M-step ---
    for (int c = 0; c < C; ++c) scale_row<A>(r + static_cast<size_t>(c) * I, a_in, I);
    if (p.m_step == kernels::kEmMStepRenormalised) {
      for (int i = 0; i < I; ++i) col[i] = 0.0f;
      for (int c = 0; c < C; ++c) {
        const float* rc = r + static_cast<size_t>(c) * I;
        int i = 0;
        for (; i + L <= I; i += L) (B::load_unaligned(col + i) + B::load_unaligned(rc + i)).store_unaligned(col + i);
        for (; i < I; ++i) col[i] += rc[i];
      }
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * I;
        int i = 0;
        for (; i + L <= I; i += L) (B::load_unaligned(rc + i) / (B::load_unaligned(col + i) + eps)).store_unaligned(rc + i);
        for (; i < I; ++i) rc[i] /= col[i] + p.eps;
      }
    }
    for (int c = 0; c < C; ++c) {
      float* rc = r + static_cast<size_t>(c) * I;
      const float sum = row_sum<A>(rc, I);
      r_sum[c] = sum;
      {
        const B denom(sum + p.eps);
        int i = 0;
        for (; i + L <= I; i += L) (B::load_unaligned(rc + i) / denom).store_unaligned(rc + i);
        for (; i < I; ++i) rc[i] /= sum + p.eps;  // now the coefficients of the means
      }
      const float* vc = votes + static_cast<size_t>(c) * I * kPose;
      B m[NB], var[NB];
      for (int blk = 0; blk < NB; ++blk) m[blk] = var[blk] = B(0.0f);
      for (int i = 0; i < I; ++i) {
        const B w(rc[i]);
        for (int blk = 0; blk < NB; ++blk)
          m[blk] = xsimd::fma(w, B::load_unaligned(vc + static_cast<size_t>(i) * kPose + blk * L), m[blk]);
      }
      for (int i = 0; i < I; ++i) {
        const B w(rc[i]);
        for (int blk = 0; blk < NB; ++blk) {
          const B d = B::load_unaligned(vc + static_cast<size_t>(i) * kPose + blk * L) - m[blk];
          var[blk] = xsimd::fma(w, d * d, var[blk]);
        }
      }
      float* mc = mu + static_cast<size_t>(c) * kPose;
      float* sc = sigma_sq + static_cast<size_t>(c) * kPose;
      for (int blk = 0; blk < NB; ++blk) {
        m[blk].store_unaligned(mc + blk * L);
        (var[blk] + eps).store_unaligned(sc + blk * L);
      }
      // the reference's 16 terms (beta_u + log sigma_h) r_sum, with a vector log, summed across lanes
      B terms(0.0f);
      for (int blk = 0; blk < NB; ++blk)
        terms += (B(beta_u[c]) + xsimd::log(xsimd::sqrt(var[blk] + eps))) * B(sum);
      const float cost = xsimd::hadd(terms);
      a_out[c] = 1.0f / (1.0f + std::exp(-p.lambda * (beta_a[c] - cost)));
    }
    if (it + 1 == p.iterations && !p.e_step_after_last) break;
    // --- E-step --- (a_out at least FLT_MIN in the log, as the reference)
    for (int c = 0; c < C; ++c) {
      const float* mc = mu + static_cast<size_t>(c) * kPose;
      const float* sc = sigma_sq + static_cast<size_t>(c) * kPose;
      B m[NB], inv[NB], log_sigma(0.0f);
      for (int blk = 0; blk < NB; ++blk) {
        const B s2 = B::load_unaligned(sc + blk * L);
        m[blk] = B::load_unaligned(mc + blk * L);
        inv[blk] = B(1.0f) / (B(2.0f) * s2);
        log_sigma += xsimd::log(xsimd::sqrt(s2)) + B(half_ln_2pi);
      }
      const float log_sigma_sum = xsimd::hadd(log_sigma);
      const float bias = -log_sigma_sum + std::log(a_out[c] > FLT_MIN ? a_out[c] : FLT_MIN);
      const float* vc = votes + static_cast<size_t>(c) * I * kPose;
      float* rc = r + static_cast<size_t>(c) * I;
      for (int i = 0; i < I; ++i) {
        B q(0.0f);
        for (int blk = 0; blk < NB; ++blk) {
          const B d = B::load_unaligned(vc + static_cast<size_t>(i) * kPose + blk * L) - m[blk];
          q = xsimd::fma(d * d, inv[blk], q);
        }
        rc[i] = bias - xsimd::hadd(q);
      }
    }
    // softmax over the outputs, L inputs at a time
    int i = 0;
    for (; i + L <= I; i += L) {
      B mx = B::load_unaligned(r + i);
      for (int c = 1; c < C; ++c) mx = xsimd::max(mx, B::load_unaligned(r + static_cast<size_t>(c) * I + i));
      B total(0.0f);
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * I + i;
        const B e = xsimd::exp(B::load_unaligned(rc) - mx);
        e.store_unaligned(rc);
        total += e;
      }
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * I + i;
        (B::load_unaligned(rc) / total).store_unaligned(rc);
      }
    }
    for (; i < I; ++i) {
      float mx = r[i];
      for (int c = 1; c < C; ++c) mx = std::max(mx, r[static_cast<size_t>(c) * I + i]);
      float total = 0.0f;
      for (int c = 0; c < C; ++c) total += (r[static_cast<size_t>(c) * I + i] = std::exp(r[static_cast<size_t>(c) * I + i] - mx));
      for (int c = 0; c < C; ++c) r[static_cast<size_t>(c) * I + i] /= total;
    }
  }
}

}  // namespace em

// ref::em_primary_caps_f32: out[pos][r] = b[r] + sum_a w[r][a] x[a][pos], a sigmoid on the
// activation rows (r >= 16 B). Blocking: L positions (contiguous in x [A, H, W]) in the lanes and
// 4 rows r at a time, 4 accumulators: each step loads one vector of x and broadcasts 4 weights,
// so x is read once per 4 rows and w sequentially. The L results of a row go to the positions'
// rows of out [H, W, 17B] with scalar stores (out is position-major: a transposition). Positions
// past the last full vector: the reference's loop.
template <class A>
void em_primary_caps_f32(const kernels::EmPrimaryCapsParams& p, const float* in, const float* weights,
                         const float* bias, float* out) {
  using Bt = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(Bt::size);
  const int A_ = p.in_channels, hw = p.height * p.width, rows = 17 * p.types, pose_rows = 16 * p.types;
  const auto finish = [&](Bt v, int r) {  // the sigmoid of the activation rows
    return r < pose_rows ? v : Bt(1.0f) / (Bt(1.0f) + xsimd::exp(-v));
  };
  int pos = 0;
  for (; pos + L <= hw; pos += L) {
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
      const float* w0 = weights + static_cast<size_t>(r) * A_;
      Bt acc0(bias[r]), acc1(bias[r + 1]), acc2(bias[r + 2]), acc3(bias[r + 3]);
      for (int a = 0; a < A_; ++a) {
        const Bt x = Bt::load_unaligned(in + static_cast<size_t>(a) * hw + pos);
        acc0 = xsimd::fma(Bt(w0[a]), x, acc0);
        acc1 = xsimd::fma(Bt(w0[A_ + a]), x, acc1);
        acc2 = xsimd::fma(Bt(w0[2 * A_ + a]), x, acc2);
        acc3 = xsimd::fma(Bt(w0[3 * A_ + a]), x, acc3);
      }
      alignas(64) float lanes[4][L];
      finish(acc0, r).store_aligned(lanes[0]);
      finish(acc1, r + 1).store_aligned(lanes[1]);
      finish(acc2, r + 2).store_aligned(lanes[2]);
      finish(acc3, r + 3).store_aligned(lanes[3]);
      for (int lane = 0; lane < L; ++lane)
        for (int k = 0; k < 4; ++k) out[static_cast<size_t>(pos + lane) * rows + r + k] = lanes[k][lane];
    }
    for (; r < rows; ++r) {
      const float* w = weights + static_cast<size_t>(r) * A_;
      Bt acc(bias[r]);
      for (int a = 0; a < A_; ++a) acc = xsimd::fma(Bt(w[a]), Bt::load_unaligned(in + static_cast<size_t>(a) * hw + pos), acc);
      alignas(64) float lanes[L];
      finish(acc, r).store_aligned(lanes);
      for (int lane = 0; lane < L; ++lane) out[static_cast<size_t>(pos + lane) * rows + r] = lanes[lane];
    }
  }
  for (; pos < hw; ++pos)
    for (int r = 0; r < rows; ++r) {
      float sum = bias[r];
      const float* w = weights + static_cast<size_t>(r) * A_;
      for (int a = 0; a < A_; ++a) sum += w[a] * in[static_cast<size_t>(a) * hw + pos];
      out[static_cast<size_t>(pos) * rows + r] = r < pose_rows ? sum : 1.0f / (1.0f + std::exp(-sum));
    }
}

// ref::em_conv_caps_f32, streamed one output position at a time as the reference, the positions
// cut into the same tasks (each with its own slot after the shared tiled transforms).
template <class A>
void em_conv_caps_f32(const kernels::EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch) {
  const int B = p.in_types, C = p.out_types, K = p.kernel, I = K * K * B;
  const size_t in_depth = 17 * static_cast<size_t>(B), out_depth = 17 * static_cast<size_t>(C);
  em::Carve shared{static_cast<unsigned char*>(scratch)};
  float* tiled = shared.take(static_cast<uint64_t>(I) * C * kEmTileFloats);
  em::tile_transforms(weights, static_cast<uint64_t>(I) * C, tiled);
  const int64_t positions = static_cast<int64_t>(p.out_height) * p.out_width;
  const int tasks = kernels::task_count(p.parallel, p.threads, positions);
  kernels::run_tasks(p.parallel, tasks, [&](int task) {
    em::Carve carve{shared.at + ref::em_conv_caps_slot_bytes(p) * static_cast<uint64_t>(task)};
    float* votes = carve.take(static_cast<uint64_t>(C) * I * em::kPose);  // [C, I, 16]
    float* a_in = carve.take(static_cast<uint64_t>(I));
    void* routing_scratch = carve.at;
    const kernels::Share share = kernels::task_share(positions, tasks, task);
    for (int64_t pos = share.begin; pos < share.end; ++pos) {
      const int oy = static_cast<int>(pos / p.out_width), ox = static_cast<int>(pos % p.out_width);
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) {
          const float* caps = in + (static_cast<size_t>(oy * p.stride + kh) * p.in_width + ox * p.stride + kw) * in_depth;
          for (int t = 0; t < B; ++t) {
            const int i = (kh * K + kw) * B + t;
            a_in[i] = caps[em::kPose * B + t];
            em::votes_of_input<A>(caps + t * em::kPose, tiled + static_cast<size_t>(i) * C * kEmTileFloats, C,
                                  votes + static_cast<size_t>(i) * em::kPose, static_cast<size_t>(I) * em::kPose);
          }
        }
      float* o = out + static_cast<size_t>(pos) * out_depth;
      em::routing<A>(p.routing, votes, a_in, beta_u, beta_a, o, o + em::kPose * C, routing_scratch);
    }
  });
}

// ref::em_class_caps_f32.
template <class A>
void em_class_caps_f32(const kernels::EmClassCapsParams& p, const float* in, const float* weights,
                       const float* beta_u, const float* beta_a, float* activations, float* poses, void* scratch) {
  const int D = p.in_types, E = p.classes, H = p.in_height, W = p.in_width, I = H * W * D;
  const size_t in_depth = 17 * static_cast<size_t>(D);
  em::Carve carve{static_cast<unsigned char*>(scratch)};
  float* tiled = carve.take(static_cast<uint64_t>(D) * E * kEmTileFloats);
  float* votes = carve.take(static_cast<uint64_t>(E) * I * em::kPose);  // [E, I, 16]
  float* a_in = carve.take(static_cast<uint64_t>(I));
  float* mu = carve.take(static_cast<uint64_t>(E) * em::kPose);
  if (poses != nullptr) mu = poses;
  void* routing_scratch = carve.at;
  em::tile_transforms(weights, static_cast<uint64_t>(D) * E, tiled);
  const int row_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 3 : 0;
  const int col_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 7 : 1;
  const size_t stride = static_cast<size_t>(I) * em::kPose;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float* caps = in + (static_cast<size_t>(y) * W + x) * in_depth;
      const float fy = static_cast<float>(y) / static_cast<float>(H), fx = static_cast<float>(x) / static_cast<float>(W);
      for (int t = 0; t < D; ++t) {
        const int i = (y * W + x) * D + t;
        a_in[i] = caps[em::kPose * D + t];
        float* vi = votes + static_cast<size_t>(i) * em::kPose;
        em::votes_of_input<A>(caps + t * em::kPose, tiled + static_cast<size_t>(t) * E * kEmTileFloats, E, vi, stride);
        if (p.coord_add != CAPS_EM_COORD_NONE)
          for (int e = 0; e < E; ++e) {
            vi[e * stride + row_elem] += fy;
            vi[e * stride + col_elem] += fx;
          }
      }
    }
  em::routing<A>(p.routing, votes, a_in, beta_u, beta_a, mu, activations, routing_scratch);
}

}  // namespace simd
}  // namespace capsrt

#endif
