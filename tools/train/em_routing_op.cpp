// The EM capsule layers' votes and routing, forward and backward, for training (tools/train/
// em_native.py compiles this file as a shared library and calls it behind a
// torch.autograd.Function). Not part of the runtime.
//
// The specification is em_modules' votes and em_routing (PyTorch, whose autograd gives the
// gradients): the same formulas. Per output position p (independent problems):
//   M [I, 16] input poses, W [Wn, C, 16] transforms, add [I, 16] (or none), a [I] input
//   activations, beta_u [C], beta_a [C]
//   -> votes V [C, I, 16] = M_i W[i mod Wn, c] + add_i -> EM routing -> mu [C, 16], a_out [C].
// train_em.py's check_fast compares the network's outputs and gradients with autograd on the
// plain routing in float64 before each run (this file is instantiated for float and double).
//
// Why: in PyTorch the votes are small batched matrix products with an inner size of 4, permuted
// in and out of layout, and each of the routing's broadcast products writes a vote-sized
// temporary that autograd keeps or recomputes. Here one position's votes (at most 147 KB in
// yl1993's ConvCaps2, 590 KB in c32's) are made in cache, go through every pass there and are
// never stored: the backward recomputes them and the forward's per-position state (couplings,
// means, variances: C x I and C x 16 values).
// Positions are split over OpenMP threads; the betas' gradients are summed per thread and then in
// thread order, so a run with a given thread count repeats bit for bit.
//
// Forward, iteration t (R_0 = 1/C; the last iteration stops after a_out):
//   s_i = sum_c R[c,i] a_i + eps;  rr[c,i] = R[c,i] a_i / s_i;  rs_c = sum_i rr[c,i]
//   coeff[c,i] = rr[c,i] / (rs_c + eps);  mu[c,h] = sum_i coeff V;  d = V - mu
//   ss[c,h] = sum_i coeff d^2 + eps;  ls = log(sqrt(ss));  z_c = lambda (beta_a - rs_c sum_h (beta_u + ls))
//   a_out = sigmoid(z);  lnp[c,i] = -sum_h d^2 / (2 ss) - sum_h ls - 8 ln(2 pi)
//   R'[., i] = softmax_c(lnp[., i] + log a_out)
// Backward, iteration t from the last down (gR' from iteration t+1, gmu and ga_out from outside
// for the last):
//   glnp[c,i] = R'[c,i] (gR'[c,i] - sum_c' R'[c',i] gR'[c',i]);  ga_out_c += sum_i glnp[c,i] / a_out_c
//   gz = ga_out a_out (1 - a_out);  gbeta_a += lambda gz;  gcost = -lambda gz
//   gbeta_u += 16 gcost rs;  grs = gcost sum_h (beta_u + ls);  gss = gcost rs / (2 ss)
//   gss += sum_i glnp (d^2 / (2 ss^2) - 1 / (2 ss));  gd = 2 gss coeff d - glnp d / ss
//   gmu_total = gmu - sum_i gd;  gV += gd + coeff gmu_total
//   gcoeff = sum_h (gss d^2 + gmu_total V);  grr = gcoeff / (rs + eps) + grs - sum_i gcoeff rr / (rs + eps)^2
//   grr1 = (grr - sum_c grr rr) / s_i;  gR = grr1 a_i;  ga_i += sum_c grr1 R
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <omp.h>

namespace {

constexpr double kEps = 1e-8;
constexpr double kLambda = 1e-3;
constexpr int kH = 16;  // pose elements

template <typename T>
struct Work {
  int C, I, iters;
  // per iteration t: R_t (the couplings it starts from; R_iters is unused), rr, coeff [C, I];
  // s [I]; rs, a_out [C]; mu, ss, ls [C, 16]
  std::vector<T> R, rr, coeff, s, rs, a_out, mu, ss, ls;
  // backward scratch
  std::vector<T> gR, glnp, gcoeff, grr, gmu, ga_out, sum_g;
  Work(int c, int i, int it)
      : C(c), I(i), iters(it), R(size_t(it) * c * i), rr(R.size()), coeff(R.size()), s(size_t(it) * i),
        rs(size_t(it) * c), a_out(rs.size()), mu(size_t(it) * c * kH), ss(mu.size()), ls(mu.size()),
        gR(size_t(c) * i), glnp(gR.size()), gcoeff(gR.size()), grr(gR.size()), gmu(size_t(c) * kH),
        ga_out(c), sum_g(c) {}
};

// The forward of one position, keeping each iteration's state in w.
template <typename T>
void forward(const T* V, const T* a, const T* beta_u, const T* beta_a, Work<T>& w) {
  const int C = w.C, I = w.I;
  const T eps = T(kEps), lambda = T(kLambda), ln2pi8 = T(8 * std::log(2 * M_PI));
  std::fill(w.R.begin(), w.R.begin() + size_t(C) * I, T(1) / T(C));
  for (int t = 0; t < w.iters; ++t) {
    T* R = &w.R[size_t(t) * C * I];
    T* rr = &w.rr[size_t(t) * C * I];
    T* coeff = &w.coeff[size_t(t) * C * I];
    T* s = &w.s[size_t(t) * I];
    T* rs = &w.rs[size_t(t) * C];
    T* a_out = &w.a_out[size_t(t) * C];
    T* mu = &w.mu[size_t(t) * C * kH];
    T* ss = &w.ss[size_t(t) * C * kH];
    T* ls = &w.ls[size_t(t) * C * kH];
    for (int i = 0; i < I; ++i) s[i] = 0;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < I; ++i) s[i] += R[c * I + i] * a[i];
    for (int i = 0; i < I; ++i) s[i] += eps;
    for (int c = 0; c < C; ++c) {
      T sum = 0;
      for (int i = 0; i < I; ++i) {
        rr[c * I + i] = R[c * I + i] * a[i] / s[i];
        sum += rr[c * I + i];
      }
      rs[c] = sum;
      for (int i = 0; i < I; ++i) coeff[c * I + i] = rr[c * I + i] / (sum + eps);
      const T* Vc = V + size_t(c) * I * kH;
      T m[kH] = {}, q[kH] = {};
      for (int i = 0; i < I; ++i)
        for (int h = 0; h < kH; ++h) m[h] += coeff[c * I + i] * Vc[i * kH + h];
      for (int i = 0; i < I; ++i)
        for (int h = 0; h < kH; ++h) {
          const T d = Vc[i * kH + h] - m[h];
          q[h] += coeff[c * I + i] * (d * d);
        }
      T cost = 0;
      for (int h = 0; h < kH; ++h) {
        mu[c * kH + h] = m[h];
        ss[c * kH + h] = q[h] + eps;
        ls[c * kH + h] = std::log(std::sqrt(ss[c * kH + h]));
        cost += (beta_u[c] + ls[c * kH + h]) * sum;
      }
      a_out[c] = T(1) / (T(1) + std::exp(-lambda * (beta_a[c] - cost)));
    }
    if (t == w.iters - 1) break;
    // E-step: the logits go to R_{t+1}, then the softmax over c
    T* Rn = &w.R[size_t(t + 1) * C * I];
    for (int c = 0; c < C; ++c) {
      const T* Vc = V + size_t(c) * I * kH;
      T half_inv[kH], sum_ls = 0;
      for (int h = 0; h < kH; ++h) {
        half_inv[h] = T(0.5) / ss[c * kH + h];
        sum_ls += ls[c * kH + h];
      }
      const T base = std::log(a_out[c]) - (sum_ls + ln2pi8);
      for (int i = 0; i < I; ++i) {
        T e = 0;
        for (int h = 0; h < kH; ++h) {
          const T d = Vc[i * kH + h] - mu[c * kH + h];
          e += (d * d) * half_inv[h];
        }
        Rn[c * I + i] = base - e;
      }
    }
    for (int i = 0; i < I; ++i) {
      T mx = Rn[i];
      for (int c = 1; c < C; ++c) mx = std::max(mx, Rn[c * I + i]);
      T sum = 0;
      for (int c = 0; c < C; ++c) {
        Rn[c * I + i] = std::exp(Rn[c * I + i] - mx);
        sum += Rn[c * I + i];
      }
      for (int c = 0; c < C; ++c) Rn[c * I + i] /= sum;
    }
  }
}

// The backward of one position: forward(...) must have filled w. Adds to gV [C, I, 16] (zeroed by
// the caller), writes ga [I], adds to gbu, gba [C].
template <typename T>
void backward(const T* V, const T* a, const T* beta_u, const T* gmu_out, const T* ga_out_in, Work<T>& w, T* gV,
              T* ga, T* gbu, T* gba) {
  const int C = w.C, I = w.I;
  const T eps = T(kEps), lambda = T(kLambda);
  for (int i = 0; i < I; ++i) ga[i] = 0;
  for (int t = w.iters - 1; t >= 0; --t) {
    const bool last = t == w.iters - 1;
    const T* R = &w.R[size_t(t) * C * I];
    const T* rr = &w.rr[size_t(t) * C * I];
    const T* coeff = &w.coeff[size_t(t) * C * I];
    const T* s = &w.s[size_t(t) * I];
    const T* rs = &w.rs[size_t(t) * C];
    const T* a_out = &w.a_out[size_t(t) * C];
    const T* mu = &w.mu[size_t(t) * C * kH];
    const T* ss = &w.ss[size_t(t) * C * kH];
    const T* ls = &w.ls[size_t(t) * C * kH];
    if (last) {
      for (int k = 0; k < C * kH; ++k) w.gmu[k] = gmu_out[k];
      for (int c = 0; c < C; ++c) w.ga_out[c] = ga_out_in[c];
    } else {
      // softmax backward: gR holds the gradient of R_{t+1}
      const T* Rn = &w.R[size_t(t + 1) * C * I];
      for (int k = 0; k < C * kH; ++k) w.gmu[k] = 0;
      for (int c = 0; c < C; ++c) w.ga_out[c] = 0;
      for (int i = 0; i < I; ++i) {
        T d = 0;
        for (int c = 0; c < C; ++c) d += Rn[c * I + i] * w.gR[c * I + i];
        for (int c = 0; c < C; ++c) w.glnp[c * I + i] = Rn[c * I + i] * (w.gR[c * I + i] - d);
      }
      for (int c = 0; c < C; ++c) {
        T g = 0;
        for (int i = 0; i < I; ++i) g += w.glnp[c * I + i];
        w.sum_g[c] = g;
        w.ga_out[c] += g / a_out[c];
      }
    }
    for (int c = 0; c < C; ++c) {
      const T* Vc = V + size_t(c) * I * kH;
      T* gVc = gV + size_t(c) * I * kH;
      const T gz = w.ga_out[c] * a_out[c] * (T(1) - a_out[c]);
      gba[c] += lambda * gz;
      const T gcost = -lambda * gz;
      T grs = 0, gss[kH], gmu[kH];
      for (int h = 0; h < kH; ++h) {
        gbu[c] += gcost * rs[c];
        grs += gcost * (beta_u[c] + ls[c * kH + h]);
        gss[h] = gcost * rs[c] * T(0.5) / ss[c * kH + h];
        gmu[h] = w.gmu[c * kH + h];
      }
      // pass 1: the sums over i that gss and mu's gradient need
      T s_cd[kH] = {}, s_gd[kH] = {}, s_gd2[kH] = {};
      for (int i = 0; i < I; ++i) {
        const T cf = coeff[c * I + i];
        const T gl = last ? T(0) : w.glnp[c * I + i];
        for (int h = 0; h < kH; ++h) {
          const T d = Vc[i * kH + h] - mu[c * kH + h];
          s_cd[h] += cf * d;
          s_gd[h] += gl * d;
          s_gd2[h] += gl * (d * d);
        }
      }
      if (!last)
        for (int h = 0; h < kH; ++h) {
          const T q = ss[c * kH + h];
          gss[h] += s_gd2[h] / (T(2) * q * q) - w.sum_g[c] / (T(2) * q);
        }
      T inv_ss[kH];
      for (int h = 0; h < kH; ++h) {
        inv_ss[h] = T(1) / ss[c * kH + h];
        // gd = 2 gss coeff d - glnp d / ss, summed over i
        gmu[h] -= T(2) * gss[h] * s_cd[h] - s_gd[h] * inv_ss[h];
      }
      // pass 2: gV and gcoeff
      for (int i = 0; i < I; ++i) {
        const T cf = coeff[c * I + i];
        const T gl = last ? T(0) : w.glnp[c * I + i];
        T gc = 0;
        for (int h = 0; h < kH; ++h) {
          const T v = Vc[i * kH + h];
          const T d = v - mu[c * kH + h];
          gc += gss[h] * (d * d) + gmu[h] * v;
          gVc[i * kH + h] += T(2) * gss[h] * cf * d - gl * d * inv_ss[h] + cf * gmu[h];
        }
        w.gcoeff[c * I + i] = gc;
      }
      // coeff = rr / (rs + eps); rs = sum_i rr
      const T den = rs[c] + eps;
      T acc = 0;
      for (int i = 0; i < I; ++i) acc += w.gcoeff[c * I + i] * rr[c * I + i];
      grs -= acc / (den * den);
      for (int i = 0; i < I; ++i) w.grr[c * I + i] = w.gcoeff[c * I + i] / den + grs;
    }
    // rr = R a / s, s = sum_c R a + eps
    for (int i = 0; i < I; ++i) {
      T dot = 0;
      for (int c = 0; c < C; ++c) dot += w.grr[c * I + i] * rr[c * I + i];
      T gai = 0;
      for (int c = 0; c < C; ++c) {
        const T g1 = (w.grr[c * I + i] - dot) / s[i];
        w.gR[c * I + i] = g1 * a[i];
        gai += g1 * R[c * I + i];
      }
      ga[i] += gai;
    }
  }
}

// The votes of one position: V[c, i] = M_i W[i mod Wn, c] (4x4 matrices; Wn = I for ConvCaps, the
// input capsule types for the class capsules, whose transforms are shared across positions),
// plus add[i] (the class capsules' coordinate addition) when given.
template <typename T>
void votes(int C, int I, int Wn, const T* M, const T* W, const T* add, T* V) {
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < I; ++i) {
      const T* m = M + size_t(i) * kH;
      const T* w = W + (size_t(i % Wn) * C + c) * kH;
      T* v = V + (size_t(c) * I + i) * kH;
      for (int p = 0; p < 4; ++p)
        for (int r = 0; r < 4; ++r) {
          T sum = 0;
          for (int q = 0; q < 4; ++q) sum += m[p * 4 + q] * w[q * 4 + r];
          v[p * 4 + r] = sum;
        }
      if (add)
        for (int h = 0; h < kH; ++h) v[h] += add[size_t(i) * kH + h];
    }
}

// The votes' backward: gM [I, 16] written, gW [Wn, C, 16] added to.
template <typename T>
void votes_backward(int C, int I, int Wn, const T* M, const T* W, const T* gV, T* gM, T* gW) {
  std::fill(gM, gM + size_t(I) * kH, T(0));
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < I; ++i) {
      const T* m = M + size_t(i) * kH;
      const T* w = W + (size_t(i % Wn) * C + c) * kH;
      T* gw = gW + (size_t(i % Wn) * C + c) * kH;
      const T* g = gV + (size_t(c) * I + i) * kH;
      T* gm = gM + size_t(i) * kH;
      for (int p = 0; p < 4; ++p)
        for (int q = 0; q < 4; ++q) {
          T sum = 0;
          for (int r = 0; r < 4; ++r) sum += g[p * 4 + r] * w[q * 4 + r];
          gm[p * 4 + q] += sum;
        }
      for (int q = 0; q < 4; ++q)
        for (int r = 0; r < 4; ++r) {
          T sum = 0;
          for (int p = 0; p < 4; ++p) sum += m[p * 4 + q] * g[p * 4 + r];
          gw[q * 4 + r] += sum;
        }
    }
}

template <typename T>
void run_forward(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, const T* a,
                 const T* bu, const T* ba, T* mu, T* a_out, int threads) {
#pragma omp parallel num_threads(threads)
  {
    Work<T> w(C, I, iters);
    std::vector<T> V(size_t(C) * I * kH);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      votes(C, I, Wn, M + p * I * kH, W, add, V.data());
      forward(V.data(), a + p * I, bu, ba, w);
      const size_t t = size_t(iters - 1);
      std::copy(&w.mu[t * C * kH], &w.mu[t * C * kH] + C * kH, mu + p * C * kH);
      std::copy(&w.a_out[t * C], &w.a_out[t * C] + C, a_out + p * C);
    }
  }
}

template <typename T>
void run_backward(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, const T* a,
                  const T* bu, const T* ba, const T* gmu, const T* ga_out, T* gM, T* gW, T* ga, T* gbu, T* gba,
                  int threads) {
  // per thread: gW, then gbu and gba; summed in thread order afterwards
  const size_t n_w = size_t(Wn) * C * kH, n_part = n_w + size_t(2) * C;
  std::vector<std::vector<T>> partial(size_t(threads), std::vector<T>(n_part, T(0)));
#pragma omp parallel num_threads(threads)
  {
    Work<T> w(C, I, iters);
    std::vector<T> V(size_t(C) * I * kH), gV(V.size());
    std::vector<T>& mine = partial[size_t(omp_get_thread_num())];
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      votes(C, I, Wn, M + p * I * kH, W, add, V.data());
      forward(V.data(), a + p * I, bu, ba, w);
      std::fill(gV.begin(), gV.end(), T(0));
      backward(V.data(), a + p * I, bu, gmu + p * C * kH, ga_out + p * C, w, gV.data(), ga + p * I,
               mine.data() + n_w, mine.data() + n_w + C);
      votes_backward(C, I, Wn, M + p * I * kH, W, gV.data(), gM + p * I * kH, mine.data());
    }
  }
  for (size_t k = 0; k < n_part; ++k) {
    T sum = 0;
    for (const auto& part : partial) sum += part[k];
    if (k < n_w)
      gW[k] = sum;
    else if (k < n_w + size_t(C))
      gbu[k - n_w] = sum;
    else
      gba[k - n_w - size_t(C)] = sum;
  }
}

}  // namespace

// P output positions, C output capsules, I input capsules, Wn transforms, `iters` EM iterations:
// M [P, I, 16] input poses, W [Wn, C, 16], add [I, 16] or null, a [P, I], beta_u and beta_a [C]
// -> mu [P, C, 16], a_out [P, C]; the backward takes their gradients and writes gM, gW, ga, gbeta_u,
// gbeta_a (the gradients of M, W, a, beta_u, beta_a).
#define EM_CAPS_API(T, SUFFIX)                                                                                   \
  void em_caps_forward_##SUFFIX(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add,  \
                                const T* a, const T* bu, const T* ba, T* mu, T* a_out, int threads) {            \
    run_forward(P, C, I, Wn, iters, M, W, add, a, bu, ba, mu, a_out, threads);                                   \
  }                                                                                                              \
  void em_caps_backward_##SUFFIX(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, \
                                 const T* a, const T* bu, const T* ba, const T* gmu, const T* ga_out, T* gM,      \
                                 T* gW, T* ga, T* gbu, T* gba, int threads) {                                    \
    run_backward(P, C, I, Wn, iters, M, W, add, a, bu, ba, gmu, ga_out, gM, gW, ga, gbu, gba, threads);          \
  }

extern "C" {
EM_CAPS_API(float, f32)
EM_CAPS_API(double, f64)
}
