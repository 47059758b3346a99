// The int8 routing iteration of the SIMD CapsDense kernels, written once over an ISA's lane
// operations (the AVX2, AVX-512 VNNI and NEON caps_dense_q.cpp instantiate it); must compute the
// integers ref::caps_dense_q does, bit for bit.
//
// Blocking: the predictions u_hat[j][d][i] are in scratch (int16, i fastest, Ip input capsules a
// row), made by the ISA file. Each iteration walks the input capsules L::kLanes at a time: the J
// logits of a block (b = u_hat . V, shifted to Q16 and clamped to int32, as the reference), their
// softmax over the classes lane by lane (fx::softmax_q15: the ISA's exp_neg_q30 and
// reciprocal), and each class's share of s_j, kept in L::kSumLanes int64 partial
// sums per (j, d) that simd::end_routing_iteration adds once per iteration before the shared
// scalar squash. The first iteration's V is 0, so every logit is 0 and every coupling the same
// constant: its logits and exponentials are skipped.
//
// The lane operations L provides (all static):
//   kLanes, kSumLanes                 input capsules per block; partial sums per (j, d)
//   I32                               kLanes int32 lanes
//   I32 splat(int32_t); I32 max(I32, I32); I32 load(const int32_t*); void store(int32_t*, I32)
//   I32 logits(const int16_t* u_hat_j, const int32_t* V_j, int D, int Ip, int i0, int shift)
//       clamp32(shift_round(sum_d u_hat[j][d][i0 + l] V[j][d], shift)) in lane l
//   Sums                              the running sums of a block's exponentials
//   Sums zero_sums()
//   void exps(I32 m, I32 b, int64_t* e_j, Sums& sums)
//       exp_neg_q30(b - m) per lane, kept at e_j (kLanes int64 slots, the ISA's own format) and
//       added to the sums (each sum in [2^30, 2^61))
//   Recip reciprocals(const Sums&)    floor(2^62 / sum) per lane (<= 2^32): fx::softmax_q15's
//                                     one division
//   I32 couplings(const int64_t* e_j, const Recip&)
//       (e recip + 2^46) >> 47 per lane: fx::softmax_q15's division step
//   void add_share(I32 c, const int16_t* u_hat_j, int64_t* S_lanes_j, int D, int Ip, int i0)
//       S_lanes[j][d][.] += c u_hat[j][d][i0 + .] (each product fits int32)
#ifndef CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_ROUTING_H
#define CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_ROUTING_H

#include <cstdint>

#include "simd/caps_dense_q_common.h"

namespace capsrt {
namespace simd {

// One task's share of a routing iteration: the blocks of input capsules from i_begin to i_end
// (multiples of L::kLanes), into the task's partial sums. A function of its own, so that the
// sizes are locals the compiler keeps in registers (a lambda's captures are reloaded after
// every store the compiler cannot tell apart from them).
template <typename L>
void caps_dense_q_routing_blocks(const kernels::CapsDenseQParams& p, const CapsDenseQScratch& s,
                                 const int32_t* requant, const CapsDenseQTask k, int iter, int32_t c0,
                                 int i_begin, int i_end) {
  constexpr int kLanes = L::kLanes;
  const int J = p.predict.out_caps, D = p.predict.out_dim, Ip = caps_dense_q_padded(p.predict.in_caps, kLanes);
  const int16_t* const u_hat = s.u_hat;
  const int32_t* const V = s.V;
  for (int n = 0; n < J * D * L::kSumLanes; ++n) k.S_lanes[n] = 0;
  for (int i0 = i_begin; i0 < i_end; i0 += kLanes) {
    if (iter == 0) {
      for (int j = 0; j < J; ++j)
        L::add_share(L::splat(c0), u_hat + static_cast<size_t>(j) * D * Ip, k.S_lanes + static_cast<size_t>(j) * D * L::kSumLanes,
                     D, Ip, i0);
      continue;
    }
    // The logits of this block: b[j] = u_hat[j][.][block] . V[j], shifted to Q16.
    typename L::I32 m = L::splat(INT32_MIN);
    for (int j = 0; j < J; ++j) {
      const typename L::I32 b = L::logits(u_hat + static_cast<size_t>(j) * D * Ip, V + j * D, D, Ip, i0, requant[3 * j + 2] - 1);
      L::store(k.b + j * kLanes, b);
      m = L::max(m, b);
    }
    // Softmax over the classes, lane by lane (fx::softmax_q15).
    typename L::Sums sums = L::zero_sums();
    for (int j = 0; j < J; ++j) L::exps(m, L::load(k.b + j * kLanes), k.e + j * kLanes, sums);
    const typename L::Recip r = L::reciprocals(sums);
    for (int j = 0; j < J; ++j)
      L::add_share(L::couplings(k.e + j * kLanes, r), u_hat + static_cast<size_t>(j) * D * Ip,
                   k.S_lanes + static_cast<size_t>(j) * D * L::kSumLanes, D, Ip, i0);
  }
}

// Threads (kernels/parallel.h): an iteration's blocks of input capsules are cut among the
// tasks, each with its own logits, exponentials and partial sums of s_j; the partial sums are
// integers, so their total does not depend on the cut.
template <typename L>
void caps_dense_q_routing(const kernels::CapsDenseQParams& p, const CapsDenseQScratch& s,
                          const int32_t* requant, int16_t* v) {
  constexpr int kLanes = L::kLanes;
  const kernels::CapsPredictParams& q = p.predict;
  const int J = q.out_caps, D = q.out_dim, Ip = caps_dense_q_padded(q.in_caps, kLanes);
  for (int n = 0; n < J * D; ++n) s.V[n] = 0;
  const int blocks = Ip / kLanes;
  const int tasks = caps_dense_q_tasks(p, blocks, 2);  // the logits and the shares
  const int32_t c0 = fx::softmax_q15_uniform(q.out_caps);  // the first iteration's couplings
  for (int iter = 0; iter < p.iterations; ++iter) {
    kernels::run_tasks(p.parallel, tasks, [&](int t) {
      const kernels::Share sh = kernels::task_share(blocks, tasks, t);
      caps_dense_q_routing_blocks<L>(p, s, requant, caps_dense_q_task(p, s, kLanes, t), iter, c0,
                                     static_cast<int>(sh.begin) * kLanes, static_cast<int>(sh.end) * kLanes);
    });
    end_routing_iteration(p, s, requant, kLanes, L::kSumLanes, tasks, iter, v);
  }
}

// A SIMD set's whole int8 CapsDense: the reference where the SIMD kernels do not apply
// (caps_dense_q_uses_reference), else the paired inputs, the ISA's predictions cut by classes
// (predict(p, weights, requant, s, j0, j1) fills u_hat for the classes [j0, j1)) and the routing
// over its lane operations L.
template <typename L, typename Predict>
void caps_dense_q_run(const kernels::CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                      const int32_t* requant, int16_t* v, void* scratch, Predict predict) {
  if (caps_dense_q_uses_reference(p)) {
    ref::caps_dense_q(p, u, weights, requant, v, scratch);
    return;
  }
  const CapsDenseQScratch s = carve_caps_dense_q(p, L::kLanes, L::kSumLanes, scratch);
  pair_inputs(p, u, caps_dense_q_padded(p.predict.in_caps, L::kLanes), s.u_pairs);
  caps_dense_q_split_classes(p, [&](int j0, int j1) { predict(p, weights, requant, s, j0, j1); });
  caps_dense_q_routing<L>(p, s, requant, v);
}

}  // namespace simd
}  // namespace capsrt

#endif
