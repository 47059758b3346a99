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
// never stored: the backward makes them again. The forward keeps, per position, what the
// backward needs beyond them: each iteration's couplings after the E-step (C x I), means and
// variances (C x 16) and activations (save_state); the backward recomputes the M-step's
// normalised couplings from those.
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
//
// Vectors: one pose (16 values) is one GCC vector (a zmm register for float with AVX-512), so
// every pass over the votes is lane-wise; the sums over a pose's 16 values (the E-step's
// exponent, the couplings' gradient) are trees, not a chain of 16 dependent additions.
// Tried and slower: making the votes one output capsule at a time, so that they stay in L1 (the
// step is bound by arithmetic: making them again for each iteration cost more than it saved).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <omp.h>

namespace {

constexpr double kEps = 1e-8;
constexpr double kLambda = 1e-3;
constexpr int kH = 16;  // pose elements

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  typedef float vec __attribute__((vector_size(64)));
  typedef int32_t mask __attribute__((vector_size(64)));
};
template <>
struct Lanes<double> {
  typedef double vec __attribute__((vector_size(128)));
  typedef int64_t mask __attribute__((vector_size(128)));
};

template <typename T>
using Vec = typename Lanes<T>::vec;
template <typename T>
using Mask = typename Lanes<T>::mask;

template <typename T>
inline Vec<T> load(const T* p) {
  Vec<T> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <typename T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof v);
}
template <typename T>
inline T hsum(Vec<T> v) {  // a tree over the 16 lanes: halves, quarters, eighths, pairs
  static const Mask<T> k8 = {8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7},
                       k4 = {4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14, 15, 8, 9, 10, 11},
                       k2 = {2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13},
                       k1 = {1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 13, 12, 15, 14};
  v += __builtin_shuffle(v, k8);
  v += __builtin_shuffle(v, k4);
  v += __builtin_shuffle(v, k2);
  v += __builtin_shuffle(v, k1);
  return v[0];
}

// sum_i x[i]: 16 at a time, then the rest (a float sum over i is otherwise a dependent chain)
template <typename T>
inline T sum_of(const T* x, int n) {
  Vec<T> acc{};
  int i = 0;
  for (; i + kH <= n; i += kH) acc += load(x + i);
  T sum = hsum<T>(acc);
  for (; i < n; ++i) sum += x[i];
  return sum;
}

// exp, lane by lane: x = k ln 2 + r with |r| <= ln 2 / 2, e^r by its Taylor series to the term
// below the type's precision (r^7/7! for float, r^12/12! for double), times 2^k from the exponent
// bits. e^x for x below the smallest normal's log (-inf among them) is 0. Within 2 ulp of
// std::exp for the softmax's arguments (at most 0).
template <typename T>
struct ExpConstants;
template <>
struct ExpConstants<float> {
  typedef int32_t ivec __attribute__((vector_size(64)));
  static constexpr int terms = 7, mantissa = 23, bias = 127;
  static constexpr float lowest = -87.0f, round = 12582912.0f;  // 1.5 * 2^23
};
template <>
struct ExpConstants<double> {
  typedef int64_t ivec __attribute__((vector_size(128)));
  static constexpr int terms = 12, mantissa = 52, bias = 1023;
  static constexpr double lowest = -708.0, round = 6755399441055744.0;  // 1.5 * 2^52
};

template <typename T>
inline Vec<T> vexp(Vec<T> x) {
  using K = ExpConstants<T>;
  const Vec<T> lo = Vec<T>{} + T(K::lowest);
  const auto under = x < lo;
  x = under ? lo : x;
  const Vec<T> k = (x * T(1.4426950408889634) + K::round) - K::round;  // round(x / ln 2)
  const Vec<T> r = (x - k * T(0.693145751953125)) - k * T(1.4286068203094173e-06);  // ln 2 = hi + lo
  Vec<T> p = Vec<T>{} + T(1);
  for (int n = K::terms; n >= 1; --n) p = p * r * (T(1) / T(n)) + T(1);  // Horner: 1 + r/1 (1 + r/2 (...))
  const typename K::ivec bits = (__builtin_convertvector(k, typename K::ivec) + K::bias) << K::mantissa;
  Vec<T> scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const Vec<T> y = p * scale;
  return under ? Vec<T>{} : y;
}

// Shuffle masks of the 4x4 products: lane 4a+b of the result takes, for the k-th term,
//   rows[k]: element (a, k) of its matrix;  cols[k]: element (k, b);
//   trows[k]: element (b, k);  tcols[k]: element (k, a).
template <typename T>
struct Shuffles {
  Mask<T> rows[4], cols[4], trows[4], tcols[4];
  Shuffles() {
    for (int k = 0; k < 4; ++k)
      for (int a = 0; a < 4; ++a)
        for (int b = 0; b < 4; ++b) {
          rows[k][4 * a + b] = 4 * a + k;
          cols[k][4 * a + b] = 4 * k + b;
          trows[k][4 * a + b] = 4 * b + k;
          tcols[k][4 * a + b] = 4 * k + a;
        }
  }
};

template <typename T>
struct Work {
  int C, I, iters;
  // per iteration t: R_t (the couplings it starts from), rr, coeff [C, I]; s [I]; rs, a_out [C];
  // mu, ss, ls [C, 16]
  std::vector<T> R, rr, coeff, s, rs, a_out, mu, ss, ls;
  // backward scratch
  std::vector<T> gR, glnp, gcoeff, grr, gmu, ga_out, sum_g, by_i;
  Work(int c, int i, int it)
      : C(c), I(i), iters(it), R(size_t(it) * c * i), rr(R.size()), coeff(R.size()), s(size_t(it) * i),
        rs(size_t(it) * c), a_out(rs.size()), mu(size_t(it) * c * kH), ss(mu.size()), ls(mu.size()),
        gR(size_t(c) * i), glnp(gR.size()), gcoeff(gR.size()), grr(gR.size()), gmu(size_t(c) * kH), ga_out(c),
        sum_g(c), by_i(i) {}
};

// The M-step's couplings of iteration t from R_t: s, rr, rs and coeff (forward and restore_state
// share it, so that the backward sees the forward's values bit for bit).
template <typename T>
void couplings(const T* a, int t, Work<T>& w) {
  const int C = w.C, I = w.I;
  const T eps = T(kEps);
  const T* R = &w.R[size_t(t) * C * I];
  T* rr = &w.rr[size_t(t) * C * I];
  T* coeff = &w.coeff[size_t(t) * C * I];
  T* s = &w.s[size_t(t) * I];
  T* rs = &w.rs[size_t(t) * C];
  if (t == 0) std::fill(w.R.begin(), w.R.begin() + size_t(C) * I, T(1) / T(C));
  for (int i = 0; i < I; ++i) s[i] = 0;
  for (int c = 0; c < C; ++c)
    for (int i = 0; i < I; ++i) s[i] += R[c * I + i] * a[i];
  for (int i = 0; i < I; ++i) s[i] += eps;
  for (int c = 0; c < C; ++c) {
    for (int i = 0; i < I; ++i) rr[c * I + i] = R[c * I + i] * a[i] / s[i];
    rs[c] = sum_of(rr + size_t(c) * I, I);
    for (int i = 0; i < I; ++i) coeff[c * I + i] = rr[c * I + i] / (rs[c] + eps);
  }
}

// The values the backward needs from a position's forward beyond its inputs, and their size:
// per iteration t, R_t (t >= 1; C x I), mu, ss and ls (C x 16 each) and a_out (C). The rest (the
// couplings and the votes) the backward makes again.
inline int64_t state_size(int C, int I, int iters) {
  return int64_t(iters - 1) * C * I + int64_t(iters) * C * (3 * kH + 1);
}

template <typename T>
void save_state(const Work<T>& w, T* out) {
  const size_t CI = size_t(w.C) * w.I, CH = size_t(w.C) * kH;
  for (int t = 0; t < w.iters; ++t) {
    if (t > 0) out = std::copy(&w.R[t * CI], &w.R[t * CI] + CI, out);
    out = std::copy(&w.mu[t * CH], &w.mu[t * CH] + CH, out);
    out = std::copy(&w.ss[t * CH], &w.ss[t * CH] + CH, out);
    out = std::copy(&w.ls[t * CH], &w.ls[t * CH] + CH, out);
    out = std::copy(&w.a_out[t * w.C], &w.a_out[t * w.C] + w.C, out);
  }
}

// Instead of forward(): w as forward() left it, from save_state's values.
template <typename T>
void restore_state(const T* a, const T* in, Work<T>& w) {
  const size_t CI = size_t(w.C) * w.I, CH = size_t(w.C) * kH;
  for (int t = 0; t < w.iters; ++t) {
    if (t > 0) std::copy(in, in + CI, &w.R[t * CI]), in += CI;
    couplings(a, t, w);
    std::copy(in, in + CH, &w.mu[t * CH]), in += CH;
    std::copy(in, in + CH, &w.ss[t * CH]), in += CH;
    std::copy(in, in + CH, &w.ls[t * CH]), in += CH;
    std::copy(in, in + w.C, &w.a_out[t * w.C]), in += w.C;
  }
}

// The forward of one position, keeping each iteration's state in w.
template <typename T>
void forward(const T* V, const T* a, const T* beta_u, const T* beta_a, Work<T>& w) {
  const int C = w.C, I = w.I;
  const T eps = T(kEps), lambda = T(kLambda), ln2pi8 = T(8 * std::log(2 * M_PI));
  for (int t = 0; t < w.iters; ++t) {
    const bool last = t == w.iters - 1;
    couplings(a, t, w);
    const T* coeff = &w.coeff[size_t(t) * C * I];
    const T* rs = &w.rs[size_t(t) * C];
    T* a_out = &w.a_out[size_t(t) * C];
    T* mu = &w.mu[size_t(t) * C * kH];
    T* ss = &w.ss[size_t(t) * C * kH];
    T* ls = &w.ls[size_t(t) * C * kH];
    T* Rn = last ? nullptr : &w.R[size_t(t + 1) * C * I];  // the E-step's logits, then its couplings
    // one output capsule at a time: its votes V[c] stay in L1 through the M-step's passes and the E-step's
    for (int c = 0; c < C; ++c) {
      const T sum = rs[c];
      const T* Vc = V + size_t(c) * I * kH;
      const T* cf = coeff + size_t(c) * I;
      Vec<T> m{}, q{};
      for (int i = 0; i < I; ++i) m += cf[i] * load(Vc + i * kH);
      for (int i = 0; i < I; ++i) {
        const Vec<T> d = load(Vc + i * kH) - m;
        q += cf[i] * (d * d);
      }
      store(mu + c * kH, m);
      store(ss + c * kH, q + eps);
      T cost = 0, sum_ls = 0;
      for (int h = 0; h < kH; ++h) {
        ls[c * kH + h] = std::log(std::sqrt(ss[c * kH + h]));
        cost += (beta_u[c] + ls[c * kH + h]) * sum;
        sum_ls += ls[c * kH + h];
      }
      a_out[c] = T(1) / (T(1) + std::exp(-lambda * (beta_a[c] - cost)));
      if (last) continue;
      const Vec<T> half_inv = T(0.5) / load(ss + c * kH);
      const T base = std::log(a_out[c]) - (sum_ls + ln2pi8);
      for (int i = 0; i < I; ++i) {
        const Vec<T> d = load(Vc + i * kH) - m;
        Rn[c * I + i] = base - hsum<T>((d * d) * half_inv);
      }
    }
    if (last) break;
    // softmax over c: 16 inputs at a time, then the rest one by one
    const int I16 = I - I % kH;
    for (int i = 0; i < I16; i += kH) {
      Vec<T> mx = load(Rn + i);
      for (int c = 1; c < C; ++c) {
        const Vec<T> x = load(Rn + c * I + i);
        mx = x > mx ? x : mx;
      }
      Vec<T> sum{};
      for (int c = 0; c < C; ++c) {
        const Vec<T> e = vexp<T>(load(Rn + c * I + i) - mx);
        store(Rn + c * I + i, e);
        sum += e;
      }
      for (int c = 0; c < C; ++c) store(Rn + c * I + i, load(Rn + c * I + i) / sum);
    }
    for (int i = I16; i < I; ++i) {
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

// The backward of one position: forward(...) must have filled w. Writes gV [C, I, 16] and ga [I],
// adds to gbu, gba [C].
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
      // (the loops over i innermost, so that they are lane-wise)
      T* dot = w.by_i.data();
      for (int i = 0; i < I; ++i) dot[i] = 0;
      for (int c = 0; c < C; ++c)
        for (int i = 0; i < I; ++i) dot[i] += Rn[c * I + i] * w.gR[c * I + i];
      for (int c = 0; c < C; ++c) {
        for (int i = 0; i < I; ++i) w.glnp[c * I + i] = Rn[c * I + i] * (w.gR[c * I + i] - dot[i]);
        const T g = sum_of(&w.glnp[size_t(c) * I], I);
        w.sum_g[c] = g;
        w.ga_out[c] = g / a_out[c];
      }
    }
    for (int c = 0; c < C; ++c) {
      const T* Vc = V + size_t(c) * I * kH;
      T* gVc = gV + size_t(c) * I * kH;
      const T* cf = coeff + size_t(c) * I;
      const T* gl = w.glnp.data() + size_t(c) * I;
      const T gz = w.ga_out[c] * a_out[c] * (T(1) - a_out[c]);
      gba[c] += lambda * gz;
      const T gcost = -lambda * gz;
      T grs = 0;
      for (int h = 0; h < kH; ++h) {
        gbu[c] += gcost * rs[c];
        grs += gcost * (beta_u[c] + ls[c * kH + h]);
      }
      const Vec<T> m = load(mu + c * kH), q = load(ss + c * kH), inv_ss = T(1) / q;
      Vec<T> gss = (gcost * rs[c] * T(0.5)) / q, gmu = load(w.gmu.data() + c * kH);
      // pass 1: the sums over i that gss and mu's gradient need
      Vec<T> s_cd{}, s_gd{}, s_gd2{};
      if (last) {
        for (int i = 0; i < I; ++i) s_cd += cf[i] * (load(Vc + i * kH) - m);
      } else {
        for (int i = 0; i < I; ++i) {
          const Vec<T> d = load(Vc + i * kH) - m;
          s_cd += cf[i] * d;
          s_gd += gl[i] * d;
          s_gd2 += gl[i] * (d * d);
        }
        gss += s_gd2 / (T(2) * q * q) - w.sum_g[c] / (T(2) * q);
      }
      // gd = 2 gss coeff d - glnp d / ss, summed over i
      gmu -= T(2) * gss * s_cd - s_gd * inv_ss;
      // pass 2: gV and gcoeff
      T* gc = w.gcoeff.data() + size_t(c) * I;
      for (int i = 0; i < I; ++i) {
        const Vec<T> v = load(Vc + i * kH), d = v - m;
        const T g = last ? T(0) : gl[i];
        gc[i] = hsum<T>(gss * (d * d) + gmu * v);
        const Vec<T> gv = (T(2) * cf[i]) * gss * d - g * d * inv_ss + cf[i] * gmu;
        store(gVc + i * kH, last ? gv : load(gVc + i * kH) + gv);  // the first iteration done writes
      }
      // coeff = rr / (rs + eps); rs = sum_i rr
      const T den = rs[c] + eps;
      for (int i = 0; i < I; ++i) w.by_i[i] = gc[i] * rr[c * I + i];
      grs -= sum_of(w.by_i.data(), I) / (den * den);
      for (int i = 0; i < I; ++i) w.grr[c * I + i] = gc[i] / den + grs;
    }
    // rr = R a / s, s = sum_c R a + eps (the loops over i innermost)
    T* dot = w.by_i.data();
    for (int i = 0; i < I; ++i) dot[i] = 0;
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < I; ++i) dot[i] += w.grr[c * I + i] * rr[c * I + i];
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < I; ++i) {
        const T g1 = (w.grr[c * I + i] - dot[i]) / s[i];
        w.gR[c * I + i] = g1 * a[i];
        ga[i] += g1 * R[c * I + i];
      }
  }
}

// The votes of one position: V[c, i] = M_i W[i mod Wn, c] (4x4 matrices; Wn = I for ConvCaps, the
// input capsule types for the class capsules, whose transforms are shared across positions),
// plus add[i] (the class capsules' coordinate addition) when given. Lane 4p+r of the product is
// sum_q M[p, q] W[q, r]: rows[q] of M times cols[q] of W, summed over q.
template <typename T>
void votes(int C, int I, int Wn, const T* M, const T* W, const T* add, T* V, const Shuffles<T>& sh) {
  for (int i = 0; i < I; ++i) {
    const Vec<T> m = load(M + size_t(i) * kH);
    const Vec<T> m0 = __builtin_shuffle(m, sh.rows[0]), m1 = __builtin_shuffle(m, sh.rows[1]),
                 m2 = __builtin_shuffle(m, sh.rows[2]), m3 = __builtin_shuffle(m, sh.rows[3]);
    const Vec<T> plus = add ? load(add + size_t(i) * kH) : Vec<T>{};
    const T* Wi = W + size_t(i % Wn) * C * kH;
    for (int c = 0; c < C; ++c) {
      const Vec<T> wv = load(Wi + size_t(c) * kH);
      const Vec<T> v = m0 * __builtin_shuffle(wv, sh.cols[0]) + m1 * __builtin_shuffle(wv, sh.cols[1]) +
                       m2 * __builtin_shuffle(wv, sh.cols[2]) + m3 * __builtin_shuffle(wv, sh.cols[3]);
      store(V + (size_t(c) * I + i) * kH, v + plus);
    }
  }
}

// The votes' backward: gM [I, 16] written, gW [Wn, C, 16] added to.
//   gM[p, q] = sum_c sum_r g[p, r] W[q, r]: rows[r] of g times trows[r] of W;
//   gW[q, r] += sum_p M[p, q] g[p, r]: tcols[p] of M times cols[p] of g.
template <typename T>
void votes_backward(int C, int I, int Wn, const T* M, const T* W, const T* gV, T* gM, T* gW, const Shuffles<T>& sh) {
  for (int i = 0; i < I; ++i) {
    const Vec<T> m = load(M + size_t(i) * kH);
    const Vec<T> mt0 = __builtin_shuffle(m, sh.tcols[0]), mt1 = __builtin_shuffle(m, sh.tcols[1]),
                 mt2 = __builtin_shuffle(m, sh.tcols[2]), mt3 = __builtin_shuffle(m, sh.tcols[3]);
    const T* Wi = W + size_t(i % Wn) * C * kH;
    T* gWi = gW + size_t(i % Wn) * C * kH;
    Vec<T> gm{};
    for (int c = 0; c < C; ++c) {
      const Vec<T> g = load(gV + (size_t(c) * I + i) * kH), wv = load(Wi + size_t(c) * kH);
      gm += __builtin_shuffle(g, sh.rows[0]) * __builtin_shuffle(wv, sh.trows[0]) +
            __builtin_shuffle(g, sh.rows[1]) * __builtin_shuffle(wv, sh.trows[1]) +
            __builtin_shuffle(g, sh.rows[2]) * __builtin_shuffle(wv, sh.trows[2]) +
            __builtin_shuffle(g, sh.rows[3]) * __builtin_shuffle(wv, sh.trows[3]);
      const Vec<T> gw = mt0 * __builtin_shuffle(g, sh.cols[0]) + mt1 * __builtin_shuffle(g, sh.cols[1]) +
                        mt2 * __builtin_shuffle(g, sh.cols[2]) + mt3 * __builtin_shuffle(g, sh.cols[3]);
      store(gWi + size_t(c) * kH, load(gWi + size_t(c) * kH) + gw);
    }
    store(gM + size_t(i) * kH, gm);
  }
}
template <typename T>
void run_forward(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, const T* a,
                 const T* bu, const T* ba, T* mu, T* a_out, T* state, int threads) {
  const int64_t S = state_size(C, I, iters);
#pragma omp parallel num_threads(threads)
  {
    Work<T> w(C, I, iters);
    const Shuffles<T> sh;
    std::vector<T> V(size_t(C) * I * kH);
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      votes(C, I, Wn, M + p * I * kH, W, add, V.data(), sh);
      forward(V.data(), a + p * I, bu, ba, w);
      const size_t t = size_t(iters - 1);
      std::copy(&w.mu[t * C * kH], &w.mu[t * C * kH] + C * kH, mu + p * C * kH);
      std::copy(&w.a_out[t * C], &w.a_out[t * C] + C, a_out + p * C);
      if (state) save_state(w, state + p * S);
    }
  }
}

template <typename T>
void run_backward(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, const T* a,
                  const T* bu, const T* state, const T* gmu, const T* ga_out, T* gM, T* gW, T* ga, T* gbu, T* gba,
                  int threads) {
  const int64_t S = state_size(C, I, iters);
  // per thread: gW, then gbu and gba; summed in thread order afterwards
  const size_t n_w = size_t(Wn) * C * kH, n_part = n_w + size_t(2) * C;
  std::vector<std::vector<T>> partial(size_t(threads), std::vector<T>(n_part, T(0)));
#pragma omp parallel num_threads(threads)
  {
    Work<T> w(C, I, iters);
    const Shuffles<T> sh;
    std::vector<T> V(size_t(C) * I * kH), gV(V.size());
    std::vector<T>& mine = partial[size_t(omp_get_thread_num())];
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; ++p) {
      votes(C, I, Wn, M + p * I * kH, W, add, V.data(), sh);
      restore_state(a + p * I, state + p * S, w);
      backward(V.data(), a + p * I, bu, gmu + p * C * kH, ga_out + p * C, w, gV.data(), ga + p * I,
               mine.data() + n_w, mine.data() + n_w + C);
      votes_backward(C, I, Wn, M + p * I * kH, W, gV.data(), gM + p * I * kH, mine.data(), sh);
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
// -> mu [P, C, 16], a_out [P, C], and (unless null) state [P, em_caps_state_size(C, I, iters)], the
// values the backward would otherwise compute again. The backward takes the gradients of mu and
// a_out and the forward's state (it needs beta_u, not beta_a), and writes gM, gW, ga, gbeta_u,
// gbeta_a (the gradients of M, W, a, beta_u, beta_a).
#define EM_CAPS_API(T, SUFFIX)                                                                                   \
  void em_caps_forward_##SUFFIX(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add,  \
                                const T* a, const T* bu, const T* ba, T* mu, T* a_out, T* state, int threads) {  \
    run_forward(P, C, I, Wn, iters, M, W, add, a, bu, ba, mu, a_out, state, threads);                            \
  }                                                                                                              \
  void em_caps_backward_##SUFFIX(int64_t P, int C, int I, int Wn, int iters, const T* M, const T* W, const T* add, \
                                 const T* a, const T* bu, const T* state, const T* gmu, const T* ga_out, T* gM,   \
                                 T* gW, T* ga, T* gbu, T* gba, int threads) {                                    \
    run_backward(P, C, I, Wn, iters, M, W, add, a, bu, state, gmu, ga_out, gM, gW, ga, gbu, gba, threads);       \
  }

extern "C" {
int64_t em_caps_state_size(int C, int I, int iters) { return state_size(C, I, iters); }
EM_CAPS_API(float, f32)
EM_CAPS_API(double, f64)
}
