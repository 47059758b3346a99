// SIMD EM capsule layers (ConvCaps and ClassCaps: votes and EM routing), written once over an
// xsimd arch and instantiated in kernels/<isa>/em_caps_f32.cpp. Must match ref::em_conv_caps_f32
// and ref::em_class_caps_f32 (kernels/reference/em_caps_f32.cpp, em_routing_f32.cpp) within
// float rounding; the scratch is simd/em_caps_scratch.h's.
//
// Blocking: the input capsules i are in the vector lanes. Every per-input array is padded to Ip
// (I rounded up to 16, zeros past I: em_caps_scratch.h), so L consecutive inputs are one
// vector on every ISA and no loop has a tail. Votes are [C, 16, Ip]: element k of V_ci at lane i.
//  - votes V_ci = M_i W_ci: V[p][r] = sum_q M[p][q] W[q][r]. The input poses of the position are
//    transposed once to [16, Ip] and the transforms once per call to [C, 16, Ip], so the 16
//    elements of L votes are 64 whole-vector FMAs, with no lane shuffles;
//  - the M-step's means and variances of output c: per element k, the sums over i of
//    coeff_ci V_cki and coeff_ci (V_cki - mu_ck)^2, one FMA per vector of L inputs, 4 elements
//    per pass over the inputs (one load of the coefficients for 4 FMAs), then the 16 sums across
//    lanes at once (LaneSums16: 2 per output, against a horizontal add per (c, i) in a layout with
//    the pose in the lanes: I is 72 to 256 in the shipped networks);
//  - the E-step's log-likelihood of L inputs: (V - mu)^2 / (2 sigma^2) summed over the 16
//    elements, 16 FMAs into one vector (no horizontal add); its normaliser (the 16 log sigma,
//    vector logs) is the M-step's, kept per output;
//  - the couplings' renormalisation and the softmax over the outputs: r is [C, Ip], L inputs of
//    one output per vector.
// The padding lanes have zero input activation, so the M-step's products give them zero
// coupling: they add exact zeros to every sum over i, and their E-step values (finite) are
// overwritten before they count. The sigmoid is scalar, as in the reference.
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

// The transforms to [C, 16, Ip]: wt[(c * 16 + k) * Ip + i] = element k of W_ci, zero past I. Input
// i uses transform i % period, whose C matrices (16 floats each) start at w + (i % period) * C * 16:
// period I for ConvCaps (a transform per input), D for ClassCaps (one per capsule type).
inline void lay_out_transforms(const float* w, int I, int Ip, int C, int period, float* wt) {
  for (int c = 0; c < C; ++c)
    for (int k = 0; k < kPose; ++k) {
      float* row = wt + (static_cast<size_t>(c) * kPose + k) * Ip;
      for (int t = 0; t < period; ++t) {
        const float value = w[(static_cast<size_t>(t) * C + c) * kPose + k];
        for (int i = t; i < I; i += period) row[i] = value;
      }
      for (int i = I; i < Ip; ++i) row[i] = 0.0f;
    }
}

// Input i's pose (16 floats at pose) and activation into lane i of mt [16, Ip] and a_in [Ip].
inline void put_input(const float* pose, float activation, int i, int Ip, float* mt, float* a_in) {
  for (int k = 0; k < kPose; ++k) mt[static_cast<size_t>(k) * Ip + i] = pose[k];
  a_in[i] = activation;
}

inline void zero_padding(int I, int Ip, float* mt, float* a_in) {
  for (int i = I; i < Ip; ++i) {
    for (int k = 0; k < kPose; ++k) mt[static_cast<size_t>(k) * Ip + i] = 0.0f;
    a_in[i] = 0.0f;
  }
}

// The votes of every input for C outputs: votes [C, 16, Ip] from mt [16, Ip] and wt [C, 16, Ip].
template <class A>
inline void votes(const float* mt, const float* wt, int C, int Ip, float* v) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  static_assert(kEmLanes % L == 0, "a vector of inputs divides the padding");
  for (int i = 0; i < Ip; i += L) {
    B m[kPose];
    for (int k = 0; k < kPose; ++k) m[k] = B::load_unaligned(mt + static_cast<size_t>(k) * Ip + i);
    for (int c = 0; c < C; ++c) {
      const float* w = wt + static_cast<size_t>(c) * kPose * Ip + i;
      float* out = v + static_cast<size_t>(c) * kPose * Ip + i;
      B wq[kPose];
      for (int k = 0; k < kPose; ++k) wq[k] = B::load_unaligned(w + static_cast<size_t>(k) * Ip);
      for (int row = 0; row < 4; ++row)
        for (int col = 0; col < 4; ++col) {
          B acc = m[row * 4] * wq[col];
          acc = xsimd::fma(m[row * 4 + 1], wq[4 + col], acc);
          acc = xsimd::fma(m[row * 4 + 2], wq[8 + col], acc);
          acc = xsimd::fma(m[row * 4 + 3], wq[12 + col], acc);
          acc.store_unaligned(out + static_cast<size_t>(row * 4 + col) * Ip);
        }
    }
  }
}

// sums[k] = the sum of acc[k]'s lanes, k < 16: the M-step's means and variances. Generic: xsimd's
// haddp, L rows into one vector (right in xsimd 8.1 for 4 and 8 lanes), or one hadd per row; the
// AVX-512 file specialises it (haddp's AVX-512 version returns the sums in a permuted order).
template <class A>
struct LaneSums16 {
  using B = xsimd::batch<float, A>;
  static void run(const B* acc, float* sums) {
    constexpr int L = static_cast<int>(B::size);
    if (L == 4 || L == 8) {
      for (int k = 0; k < kPose; k += L) xsimd::haddp(acc + k).store_unaligned(sums + k);
    } else {
      for (int k = 0; k < kPose; ++k) sums[k] = xsimd::hadd(acc[k]);
    }
  }
};

// EM routing of one position: ref::em_routing_f32's formulas and order of steps, over votes
// [C, 16, Ip] and a_in [Ip] (zero past p.in_caps); mu [C, 16] and a_out [C] out.
template <class A>
void routing(const kernels::EmRoutingParams& p, int Ip, const float* votes, const float* a_in, const float* beta_u,
             const float* beta_a, float* mu, float* a_out, void* scratch) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  constexpr int NB = kPose / L;  // vectors in 16 floats (sigma^2 of one output)
  const int C = p.out_caps;
  const size_t plane = static_cast<size_t>(kPose) * Ip;  // one output's votes
  kernels::ScratchCarver carve{scratch};  // em_caps_scratch.h's layout
  float* r = carve.take(static_cast<uint64_t>(C) * Ip);
  float* sigma_sq = carve.take(static_cast<uint64_t>(C) * kPose);
  float* log_norm = carve.take(static_cast<uint64_t>(C));
  float* col = carve.take(static_cast<uint64_t>(Ip));
  const float half_ln_2pi = 0.5f * std::log(2.0f * 3.14159265358979f);
  const B eps(p.eps);

  for (size_t n = 0; n < static_cast<size_t>(C) * Ip; ++n) r[n] = 1.0f / static_cast<float>(C);
  for (int it = 0; it < p.iterations; ++it) {
    // --- M-step ---
    for (int c = 0; c < C; ++c) {
      float* rc = r + static_cast<size_t>(c) * Ip;
      for (int i = 0; i < Ip; i += L) (B::load_unaligned(rc + i) * B::load_unaligned(a_in + i)).store_unaligned(rc + i);
    }
    if (p.m_step == kernels::kEmMStepRenormalised) {
      for (int i = 0; i < Ip; i += L) {
        B sum = B::load_unaligned(r + i);
        for (int c = 1; c < C; ++c) sum += B::load_unaligned(r + static_cast<size_t>(c) * Ip + i);
        (sum + eps).store_unaligned(col + i);
      }
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * Ip;
        for (int i = 0; i < Ip; i += L) (B::load_unaligned(rc + i) / B::load_unaligned(col + i)).store_unaligned(rc + i);
      }
    }
    for (int c = 0; c < C; ++c) {
      float* rc = r + static_cast<size_t>(c) * Ip;
      B total(0.0f);
      for (int i = 0; i < Ip; i += L) total += B::load_unaligned(rc + i);
      const float sum = xsimd::hadd(total);  // r_sum_c
      const B denom(sum + p.eps);
      for (int i = 0; i < Ip; i += L) (B::load_unaligned(rc + i) / denom).store_unaligned(rc + i);  // mean coefficients
      const float* vc = votes + c * plane;
      float* mc = mu + static_cast<size_t>(c) * kPose;
      float* sc = sigma_sq + static_cast<size_t>(c) * kPose;
      // 4 elements at a time: one load of the coefficients serves 4 FMAs (4 accumulators)
      B acc[kPose];
      for (int k = 0; k < kPose; k += 4) {
        const float* vk = vc + static_cast<size_t>(k) * Ip;
        B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
        for (int i = 0; i < Ip; i += L) {
          const B w = B::load_unaligned(rc + i);
          s0 = xsimd::fma(w, B::load_unaligned(vk + i), s0);
          s1 = xsimd::fma(w, B::load_unaligned(vk + Ip + i), s1);
          s2 = xsimd::fma(w, B::load_unaligned(vk + 2 * Ip + i), s2);
          s3 = xsimd::fma(w, B::load_unaligned(vk + 3 * Ip + i), s3);
        }
        acc[k] = s0, acc[k + 1] = s1, acc[k + 2] = s2, acc[k + 3] = s3;
      }
      LaneSums16<A>::run(acc, mc);
      for (int k = 0; k < kPose; k += 4) {
        const float* vk = vc + static_cast<size_t>(k) * Ip;
        const B m0(mc[k]), m1(mc[k + 1]), m2(mc[k + 2]), m3(mc[k + 3]);
        B s0(0.0f), s1(0.0f), s2(0.0f), s3(0.0f);
        for (int i = 0; i < Ip; i += L) {
          const B w = B::load_unaligned(rc + i);
          const B d0 = B::load_unaligned(vk + i) - m0, d1 = B::load_unaligned(vk + Ip + i) - m1,
                  d2 = B::load_unaligned(vk + 2 * Ip + i) - m2, d3 = B::load_unaligned(vk + 3 * Ip + i) - m3;
          s0 = xsimd::fma(w, d0 * d0, s0);
          s1 = xsimd::fma(w, d1 * d1, s1);
          s2 = xsimd::fma(w, d2 * d2, s2);
          s3 = xsimd::fma(w, d3 * d3, s3);
        }
        acc[k] = s0, acc[k + 1] = s1, acc[k + 2] = s2, acc[k + 3] = s3;
      }
      LaneSums16<A>::run(acc, sc);
      for (int blk = 0; blk < NB; ++blk) (B::load_unaligned(sc + blk * L) + eps).store_unaligned(sc + blk * L);
      // the reference's 16 terms (beta_u + log sigma_h) r_sum and the E-step's normaliser
      // sum_h (log sigma_h + ln(2 pi) / 2), with vector logs summed across lanes
      B terms(0.0f), norm(0.0f);
      for (int blk = 0; blk < NB; ++blk) {
        const B log_sigma = xsimd::log(xsimd::sqrt(B::load_unaligned(sc + blk * L)));
        terms += (B(beta_u[c]) + log_sigma) * B(sum);
        norm += log_sigma + B(half_ln_2pi);
      }
      const float cost = xsimd::hadd(terms);
      log_norm[c] = xsimd::hadd(norm);
      a_out[c] = 1.0f / (1.0f + std::exp(-p.lambda * (beta_a[c] - cost)));
    }
    if (it + 1 == p.iterations && !p.e_step_after_last) break;
    // --- E-step --- (a_out at least FLT_MIN in the log, as the reference)
    for (int c = 0; c < C; ++c) {
      const float* mc = mu + static_cast<size_t>(c) * kPose;
      const float* sc = sigma_sq + static_cast<size_t>(c) * kPose;
      alignas(64) float inv[kPose];
      for (int k = 0; k < kPose; ++k) inv[k] = 1.0f / (2.0f * sc[k]);
      const B bias(-log_norm[c] + std::log(a_out[c] > FLT_MIN ? a_out[c] : FLT_MIN));
      const float* vc = votes + c * plane;
      float* rc = r + static_cast<size_t>(c) * Ip;
      for (int i = 0; i < Ip; i += L) {
        B q0(0.0f), q1(0.0f);  // two chains of 8 FMAs
        for (int k = 0; k < kPose; k += 2) {
          const B d0 = B::load_unaligned(vc + static_cast<size_t>(k) * Ip + i) - B(mc[k]);
          const B d1 = B::load_unaligned(vc + static_cast<size_t>(k + 1) * Ip + i) - B(mc[k + 1]);
          q0 = xsimd::fma(d0 * d0, B(inv[k]), q0);
          q1 = xsimd::fma(d1 * d1, B(inv[k + 1]), q1);
        }
        (bias - (q0 + q1)).store_unaligned(rc + i);
      }
    }
    // softmax over the outputs, L inputs at a time
    for (int i = 0; i < Ip; i += L) {
      B mx = B::load_unaligned(r + i);
      for (int c = 1; c < C; ++c) mx = xsimd::max(mx, B::load_unaligned(r + static_cast<size_t>(c) * Ip + i));
      B total(0.0f);
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * Ip + i;
        const B e = xsimd::exp(B::load_unaligned(rc) - mx);
        e.store_unaligned(rc);
        total += e;
      }
      for (int c = 0; c < C; ++c) {
        float* rc = r + static_cast<size_t>(c) * Ip + i;
        (B::load_unaligned(rc) / total).store_unaligned(rc);
      }
    }
  }
}

}  // namespace em

// ref::em_primary_caps_f32: out[pos][r] = b[r] + sum_a w[r][a] x[a][pos], a sigmoid on the
// activation rows (r >= 16 B). Blocking: L positions (contiguous in x [A, H, W]) in the lanes and
// 8 rows r at a time, 8 accumulators: each step loads one vector of x and broadcasts 8 weights,
// so x is read once per 8 rows and w sequentially, and 8 FMA chains cover the FMA latency of two
// pipes (4 rows left half of them idle). The L results of a row go to the positions' rows of
// out [H, W, 17B] with scalar stores (out is position-major: a transposition). Positions past the
// last full vector: one more vector ending at the last position, which recomputes some of the
// previous one's positions (the same values); fewer than L positions: the reference's loop.
template <class A>
void em_primary_caps_f32(const kernels::EmPrimaryCapsParams& p, const float* in, const float* weights,
                         const float* bias, float* out) {
  using Bt = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(Bt::size);
  constexpr int R = 8;
  const int A_ = p.in_channels, hw = p.height * p.width, rows = 17 * p.types, pose_rows = 16 * p.types;
  const auto finish = [&](Bt v, int r) {  // the sigmoid of the activation rows
    return r < pose_rows ? v : Bt(1.0f) / (Bt(1.0f) + xsimd::exp(-v));
  };
  const auto positions = [&](int pos) {  // L positions from pos
    int r = 0;
    for (; r + R <= rows; r += R) {
      const float* w0 = weights + static_cast<size_t>(r) * A_;
      Bt acc[R];
      for (int k = 0; k < R; ++k) acc[k] = Bt(bias[r + k]);
      for (int a = 0; a < A_; ++a) {
        const Bt x = Bt::load_unaligned(in + static_cast<size_t>(a) * hw + pos);
        for (int k = 0; k < R; ++k) acc[k] = xsimd::fma(Bt(w0[static_cast<size_t>(k) * A_ + a]), x, acc[k]);
      }
      alignas(64) float lanes[R][L];
      for (int k = 0; k < R; ++k) finish(acc[k], r + k).store_unaligned(lanes[k]);
      for (int lane = 0; lane < L; ++lane)
        for (int k = 0; k < R; ++k) out[static_cast<size_t>(pos + lane) * rows + r + k] = lanes[k][lane];
    }
    for (; r < rows; ++r) {
      const float* w = weights + static_cast<size_t>(r) * A_;
      Bt acc(bias[r]);
      for (int a = 0; a < A_; ++a) acc = xsimd::fma(Bt(w[a]), Bt::load_unaligned(in + static_cast<size_t>(a) * hw + pos), acc);
      alignas(64) float lanes[L];
      finish(acc, r).store_unaligned(lanes);
      for (int lane = 0; lane < L; ++lane) out[static_cast<size_t>(pos + lane) * rows + r] = lanes[lane];
    }
  };
  if (hw >= L) {
    int pos = 0;
    for (; pos + L <= hw; pos += L) positions(pos);
    if (pos < hw) positions(hw - L);
    return;
  }
  for (int pos = 0; pos < hw; ++pos)
    for (int r = 0; r < rows; ++r) {
      float sum = bias[r];
      const float* w = weights + static_cast<size_t>(r) * A_;
      for (int a = 0; a < A_; ++a) sum += w[a] * in[static_cast<size_t>(a) * hw + pos];
      out[static_cast<size_t>(pos) * rows + r] = r < pose_rows ? sum : 1.0f / (1.0f + std::exp(-sum));
    }
}

// ref::em_conv_caps_f32, streamed one output position at a time as the reference, the positions
// cut into the same tasks (each with its own slot after the shared transforms).
template <class A>
void em_conv_caps_f32(const kernels::EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch) {
  const int B = p.in_types, C = p.out_types, K = p.kernel, I = K * K * B;
  const int Ip = static_cast<int>(em_conv_caps_inputs(p));
  const size_t in_depth = 17 * static_cast<size_t>(B), out_depth = 17 * static_cast<size_t>(C);
  kernels::ScratchCarver shared{scratch};  // em_caps_scratch.h's layout
  float* wt = shared.take(static_cast<uint64_t>(C) * em::kPose * Ip);
  em::lay_out_transforms(weights, I, Ip, C, I, wt);
  const int64_t positions = static_cast<int64_t>(p.out_height) * p.out_width;
  const int tasks = kernels::task_count(p.parallel, p.threads, positions);
  kernels::run_tasks(p.parallel, tasks, [&](int task) {
    kernels::ScratchCarver carve{shared.at + em_position_bytes(static_cast<uint64_t>(Ip), static_cast<uint64_t>(C)) *
                                    static_cast<uint64_t>(task)};
    float* votes = carve.take(static_cast<uint64_t>(C) * em::kPose * Ip);  // [C, 16, Ip]
    float* mt = carve.take(static_cast<uint64_t>(em::kPose) * Ip);         // [16, Ip]
    float* a_in = carve.take(static_cast<uint64_t>(Ip));
    void* routing_scratch = carve.at;
    em::zero_padding(I, Ip, mt, a_in);
    const kernels::Share share = kernels::task_share(positions, tasks, task);
    for (int64_t pos = share.begin; pos < share.end; ++pos) {
      const int oy = static_cast<int>(pos / p.out_width), ox = static_cast<int>(pos % p.out_width);
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) {
          const float* caps = in + (static_cast<size_t>(oy * p.stride + kh) * p.in_width + ox * p.stride + kw) * in_depth;
          for (int t = 0; t < B; ++t)
            em::put_input(caps + t * em::kPose, caps[em::kPose * B + t], (kh * K + kw) * B + t, Ip, mt, a_in);
        }
      em::votes<A>(mt, wt, C, Ip, votes);
      float* o = out + static_cast<size_t>(pos) * out_depth;
      em::routing<A>(p.routing, Ip, votes, a_in, beta_u, beta_a, o, o + em::kPose * C, routing_scratch);
    }
  });
}

// ref::em_class_caps_f32: one routing over every position's capsules.
template <class A>
void em_class_caps_f32(const kernels::EmClassCapsParams& p, const float* in, const float* weights,
                       const float* beta_u, const float* beta_a, float* activations, float* poses, void* scratch) {
  using Bt = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(Bt::size);
  const int D = p.in_types, E = p.classes, H = p.in_height, W = p.in_width, I = H * W * D;
  const int Ip = static_cast<int>(em_class_caps_inputs(p));
  const size_t in_depth = 17 * static_cast<size_t>(D);
  kernels::ScratchCarver carve{scratch};  // em_caps_scratch.h's layout
  float* wt = carve.take(static_cast<uint64_t>(E) * em::kPose * Ip);
  float* votes = carve.take(static_cast<uint64_t>(E) * em::kPose * Ip);  // [E, 16, Ip]
  float* mt = carve.take(static_cast<uint64_t>(em::kPose) * Ip);
  float* a_in = carve.take(static_cast<uint64_t>(Ip));
  float* coords = carve.take(2 * static_cast<uint64_t>(Ip));  // [row/H, col/W] of each input
  float* mu = carve.take(static_cast<uint64_t>(E) * em::kPose);
  if (poses != nullptr) mu = poses;
  void* routing_scratch = carve.at;  // the rest
  em::lay_out_transforms(weights, I, Ip, E, D, wt);  // shared by the positions: input i is of type i % D
  em::zero_padding(I, Ip, mt, a_in);
  for (int i = 0; i < Ip; ++i) coords[i] = coords[Ip + i] = 0.0f;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float* caps = in + (static_cast<size_t>(y) * W + x) * in_depth;
      for (int t = 0; t < D; ++t) {
        const int i = (y * W + x) * D + t;
        em::put_input(caps + t * em::kPose, caps[em::kPose * D + t], i, Ip, mt, a_in);
        coords[i] = static_cast<float>(y) / static_cast<float>(H);
        coords[Ip + i] = static_cast<float>(x) / static_cast<float>(W);
      }
    }
  em::votes<A>(mt, wt, E, Ip, votes);
  if (p.coord_add != CAPS_EM_COORD_NONE) {
    const int row_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 3 : 0;
    const int col_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 7 : 1;
    for (int e = 0; e < E; ++e) {
      float* row = votes + (static_cast<size_t>(e) * em::kPose + row_elem) * Ip;
      float* col = votes + (static_cast<size_t>(e) * em::kPose + col_elem) * Ip;
      for (int i = 0; i < Ip; i += L) {
        (Bt::load_unaligned(row + i) + Bt::load_unaligned(coords + i)).store_unaligned(row + i);
        (Bt::load_unaligned(col + i) + Bt::load_unaligned(coords + Ip + i)).store_unaligned(col + i);
      }
    }
  }
  em::routing<A>(p.routing, Ip, votes, a_in, beta_u, beta_a, mu, activations, routing_scratch);
}

}  // namespace simd
}  // namespace capsrt

#endif
