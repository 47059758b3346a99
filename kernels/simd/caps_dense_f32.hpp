// SIMD CapsDense (the u_hat transform and dynamic routing), written once over an xsimd arch and
// instantiated in kernels/<isa>/caps_dense_f32.cpp. Reads W in the CAPS_JDKI layout. Must match
// ref::caps_predict_f32 followed by ref::dynamic_routing_f32 within float rounding.
//
// Every pass runs with consecutive input capsules i in the vector lanes, so nothing is summed
// across lanes except once per (j, d) at the end of a weighted sum:
//  - u is transposed to [DI][I] (scratch), W is [J][DO][DI][I] in the file, and u_hat is kept as
//    [J][DO][I]: u_hat[j][d][i..i+L) = sum_k W[j][d][k][i..i+L) * u[k][i..i+L). W is read once,
//    in DI sequential streams.
//  - Iteration 0's coupling is uniform (softmax of zeros), so its weighted sum needs no logits:
//    s[j][d] = c0 * sum_i u_hat[j][d][i].
//  - Each later iteration makes two passes over u_hat (kept in L2: 737 KB for the canonical net):
//    the agreement b[j][i] += sum_d u_hat[j][d][i] * v[j][d] with the softmax of b along the
//    model's axis, then the weighted sum s[j][d] = sum_i c[j][i] u_hat[j][d][i].
//  Over outputs (the paper), the softmax for L inputs at once is taken across the J rows of b,
//  lane by lane; over inputs, along each row of b.
// Inputs past the last full vector are done with scalar code in each pass.
#ifndef CAPSRT_KERNELS_SIMD_CAPS_DENSE_F32_HPP
#define CAPSRT_KERNELS_SIMD_CAPS_DENSE_F32_HPP

#include <cmath>
#include <xsimd/xsimd.hpp>

#include "simd/blocking.h"
#include "simd/squash_f32.hpp"

namespace capsrt {
namespace simd {

// s[j][d] = c_scale * sum_i coupling[j][i] * u_hat[j][d][i] (coupling NULL: all ones), for the
// classes j in [j0, j1).
template <class A>
void routing_weighted_sum(int I, int j0, int j1, int DO, const float* u_hat, const float* coupling,
                          float c_scale, float* s) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  for (int j = j0; j < j1; ++j) {
    const float* c = coupling ? coupling + static_cast<size_t>(j) * I : nullptr;
    for (int d = 0; d < DO; ++d) {
      const float* uh = u_hat + (static_cast<size_t>(j) * DO + d) * I;
      B acc0(0.0f), acc1(0.0f);
      int i = 0;
      if (c) {
        for (; i + 2 * L <= I; i += 2 * L) {
          acc0 = xsimd::fma(B::load_unaligned(c + i), B::load_unaligned(uh + i), acc0);
          acc1 = xsimd::fma(B::load_unaligned(c + i + L), B::load_unaligned(uh + i + L), acc1);
        }
      } else {
        for (; i + 2 * L <= I; i += 2 * L) {
          acc0 += B::load_unaligned(uh + i);
          acc1 += B::load_unaligned(uh + i + L);
        }
      }
      float sum = xsimd::hadd(acc0 + acc1);
      for (; i < I; ++i) sum += (c ? c[i] : 1.0f) * uh[i];
      s[j * DO + d] = sum * c_scale;
    }
  }
}

// u_hat[j][d][i] = sum_k W[j][d][k][i] * u_t[k][i], for the rows jd = j DO + d in [jd0, jd1).
template <class A>
void caps_predict_jdki(const CapsPredictParams& p, const float* u_t, const float* w, float* u_hat, int jd0,
                       int jd1) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const int I = p.in_caps, DI = p.in_dim;
  for (int jd = jd0; jd < jd1; ++jd) {
    const float* wjd = w + static_cast<size_t>(jd) * DI * I;
    float* out = u_hat + static_cast<size_t>(jd) * I;
    int i = 0;
    for (; i + L <= I; i += L) {
      B acc(0.0f);
      for (int k = 0; k < DI; ++k)
        acc = xsimd::fma(B::load_unaligned(wjd + static_cast<size_t>(k) * I + i),
                         B::load_unaligned(u_t + static_cast<size_t>(k) * I + i), acc);
      acc.store_unaligned(out + i);
    }
    for (; i < I; ++i) {
      float acc = 0.0f;
      for (int k = 0; k < DI; ++k) acc += wjd[static_cast<size_t>(k) * I + i] * u_t[static_cast<size_t>(k) * I + i];
      out[i] = acc;
    }
  }
}

// b[j][i] += u_hat[j][i] . v[j] for every i (b is overwritten when `assign`), classes [j0, j1).
template <class A>
void routing_agreement(int I, int j0, int j1, int DO, const float* u_hat, const float* v, float* b,
                       bool assign) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  for (int j = j0; j < j1; ++j) {
    const float* uh = u_hat + static_cast<size_t>(j) * DO * I;
    const float* vj = v + j * DO;
    float* bj = b + static_cast<size_t>(j) * I;
    int i = 0;
    for (; i + L <= I; i += L) {
      B dot(0.0f);
      for (int d = 0; d < DO; ++d)
        dot = xsimd::fma(B::load_unaligned(uh + static_cast<size_t>(d) * I + i), B(vj[d]), dot);
      if (!assign) dot += B::load_unaligned(bj + i);
      dot.store_unaligned(bj + i);
    }
    for (; i < I; ++i) {
      float dot = 0.0f;
      for (int d = 0; d < DO; ++d) dot += uh[static_cast<size_t>(d) * I + i] * vj[d];
      bj[i] = assign ? dot : bj[i] + dot;
    }
  }
}

// c = softmax(b) over the J rows, for each column i in [i0, i1) (the paper's axis). i0 is a
// multiple of L; the columns past the last full vector of I take the scalar path.
template <class A>
void routing_softmax_over_outputs(int I, int i0, int i1, int J, const float* b, float* c) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  int i = i0;
  for (; i + L <= i1 && i + L <= I; i += L) {
    B mx = B::load_unaligned(b + i);
    for (int j = 1; j < J; ++j) mx = xsimd::max(mx, B::load_unaligned(b + static_cast<size_t>(j) * I + i));
    B sum(0.0f);
    for (int j = 0; j < J; ++j) {
      const B e = xsimd::exp(B::load_unaligned(b + static_cast<size_t>(j) * I + i) - mx);
      e.store_unaligned(c + static_cast<size_t>(j) * I + i);
      sum += e;
    }
    const B inv = B(1.0f) / sum;
    for (int j = 0; j < J; ++j)
      (B::load_unaligned(c + static_cast<size_t>(j) * I + i) * inv).store_unaligned(c + static_cast<size_t>(j) * I + i);
  }
  for (; i < i1; ++i) {
    float mx = b[i];
    for (int j = 1; j < J; ++j) mx = b[static_cast<size_t>(j) * I + i] > mx ? b[static_cast<size_t>(j) * I + i] : mx;
    float sum = 0.0f;
    for (int j = 0; j < J; ++j) sum += (c[static_cast<size_t>(j) * I + i] = std::exp(b[static_cast<size_t>(j) * I + i] - mx));
    const float inv = 1.0f / sum;
    for (int j = 0; j < J; ++j) c[static_cast<size_t>(j) * I + i] *= inv;
  }
}

// c[j] = softmax(b[j]) along each row (gram-ai's axis: over the input capsules), classes [j0, j1).
template <class A>
void routing_softmax_over_inputs(int I, int j0, int j1, const float* b, float* c) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  for (int j = j0; j < j1; ++j) {
    const float* bj = b + static_cast<size_t>(j) * I;
    float* cj = c + static_cast<size_t>(j) * I;
    float mx = bj[0];
    int i = 0;
    if (I >= L) {
      B m = B::load_unaligned(bj);
      for (i = L; i + L <= I; i += L) m = xsimd::max(m, B::load_unaligned(bj + i));
      alignas(64) float lanes[L];
      m.store_aligned(lanes);
      for (int l = 0; l < L; ++l) mx = lanes[l] > mx ? lanes[l] : mx;
    }
    for (; i < I; ++i) mx = bj[i] > mx ? bj[i] : mx;
    B sum(0.0f);
    float tail = 0.0f;
    const B bmx(mx);
    for (i = 0; i + L <= I; i += L) {
      const B e = xsimd::exp(B::load_unaligned(bj + i) - bmx);
      e.store_unaligned(cj + i);
      sum += e;
    }
    for (; i < I; ++i) tail += (cj[i] = std::exp(bj[i] - mx));
    const float inv = 1.0f / (xsimd::hadd(sum) + tail);
    const B binv(inv);
    for (i = 0; i + L <= I; i += L) (B::load_unaligned(cj + i) * binv).store_unaligned(cj + i);
    for (; i < I; ++i) cj[i] *= inv;
  }
}

// Threads (kernels/parallel.h): each pass is cut among the tasks by classes (the predictions by
// rows j DO + d), the softmax over the outputs by whole vectors of input capsules (the last task
// has the scalar tail), when the pass has at least kParallelMinCapsMacs multiply-adds. Every
// value is made by the code that makes it serially.
template <class F>
void split_pass(const CapsDenseParams& p, int64_t units, int64_t macs, F&& f) {
  const int tasks = task_count(worth_splitting(p.parallel, macs, kParallelMinCapsMacs), p.threads, units);
  run_tasks(p.parallel, tasks, [&](int t) {
    const Share sh = task_share(units, tasks, t);
    f(static_cast<int>(sh.begin), static_cast<int>(sh.end));
  });
}

template <class A>
void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* w, float* v,
                    void* scratch) {
  using B = xsimd::batch<float, A>;
  constexpr int L = static_cast<int>(B::size);
  const int I = p.predict.in_caps, DI = p.predict.in_dim, J = p.predict.out_caps, DO = p.predict.out_dim;
  const int64_t jdi = int64_t{J} * DO * I;
  const CapsDenseScratch layout = caps_dense_scratch(p);
  uint8_t* s = static_cast<uint8_t*>(scratch);
  float* u_t = reinterpret_cast<float*>(s + layout.u_t);
  float* u_hat = reinterpret_cast<float*>(s + layout.u_hat);
  float* b = reinterpret_cast<float*>(s + layout.logits);
  float* c = reinterpret_cast<float*>(s + layout.coupling);
  for (int i = 0; i < I; ++i)
    for (int k = 0; k < DI; ++k) u_t[static_cast<size_t>(k) * I + i] = u[static_cast<size_t>(i) * DI + k];
  split_pass(p, int64_t{J} * DO, jdi * DI, [&](int jd0, int jd1) { caps_predict_jdki<A>(p.predict, u_t, w, u_hat, jd0, jd1); });
  // Iteration 0: softmax of all-zero logits is uniform, 1/J per output (or 1/I per input).
  const float c0 = 1.0f / static_cast<float>(p.routing.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS ? J : I);
  split_pass(p, J, jdi, [&](int j0, int j1) { routing_weighted_sum<A>(I, j0, j1, DO, u_hat, nullptr, c0, v); });
  squash_f32<A>(p.routing.squash, v, v, J, DO);
  for (int iter = 1; iter < p.routing.iterations; ++iter) {
    split_pass(p, J, jdi, [&](int j0, int j1) { routing_agreement<A>(I, j0, j1, DO, u_hat, v, b, iter == 1); });
    if (p.routing.softmax_axis == CAPS_SOFTMAX_OVER_OUTPUTS) {
      const int vectors = I / L;  // the last task also takes the columns past them
      split_pass(p, vectors > 0 ? vectors : 1, int64_t{J} * I * 8, [&](int q0, int q1) {
        routing_softmax_over_outputs<A>(I, q0 * L, q1 == (vectors > 0 ? vectors : 1) ? I : q1 * L, J, b, c);
      });
    } else {
      split_pass(p, J, int64_t{J} * I * 8, [&](int j0, int j1) { routing_softmax_over_inputs<A>(I, j0, j1, b, c); });
    }
    split_pass(p, J, jdi, [&](int j0, int j1) { routing_weighted_sum<A>(I, j0, j1, DO, u_hat, c, 1.0f, v); });
    squash_f32<A>(p.routing.squash, v, v, J, DO);
  }
}

}  // namespace simd
}  // namespace capsrt

#endif
