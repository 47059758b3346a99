// What the SIMD int8 CapsDense kernels (x86_avx2/, x86_avx512_vnni/, arm_neon/caps_dense_q.cpp)
// share, in plain C++: when they apply, their scratch, the rearranged input capsules, and the end
// of a routing iteration. `lanes` is a kernel's input capsules per block, `sum_lanes` the int64
// partial sums it keeps per (j, d).
#ifndef CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_COMMON_H
#define CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_COMMON_H

#include <cstdint>

#include "fixed_point.h"
#include "kernel_params.h"
#include "parallel.h"
#include "reference.h"

namespace capsrt {
namespace simd {

// Softmax over the inputs, low-memory routing and row-major W run the reference kernel.
inline bool caps_dense_q_uses_reference(const kernels::CapsDenseQParams& p) {
  return p.low_memory || p.softmax_axis != CAPS_SOFTMAX_OVER_OUTPUTS ||
         p.predict.weight_layout != CAPS_LAYOUT_CAPS_JDKI;
}

inline int caps_dense_q_padded(int in_caps, int lanes) { return (in_caps + lanes - 1) / lanes * lanes; }

// The scratch: u as int16 pairs [DI/2 rounded up][Ip][2] (Ip: I rounded up to `lanes`),
// predictions int16 [J][DO][Ip], S int64 [J][DO], V int32 [J][DO], then per task
// (kernels/parallel.h: p.threads of them) a block's logits int32 [J][lanes], its exponentials
// (8 bytes each) [J][lanes] and S's partial sums int64 [J][DO][sum_lanes]; each rounded up to 64
// bytes. Known in every build; the reference's where it runs.
struct CapsDenseQScratch {
  int16_t* u_pairs;
  int16_t* u_hat;
  int64_t* S;
  int32_t* V;
  uint8_t* tasks;  // task t's part at tasks + t * task_bytes
  uint64_t task_bytes;
};

// One task's part of the scratch.
struct CapsDenseQTask {
  int32_t* b;
  int64_t* e;
  int64_t* S_lanes;
};

inline uint64_t caps_dense_q_task_bytes(const kernels::CapsDenseQParams& p, int lanes, int sum_lanes) {
  const uint64_t l = static_cast<uint64_t>(lanes), j = static_cast<uint64_t>(p.predict.out_caps);
  const uint64_t jd = j * static_cast<uint64_t>(p.predict.out_dim);
  return kernels::align_up(j * l * 4) + kernels::align_up(j * l * 8) + kernels::align_up(jd * static_cast<uint64_t>(sum_lanes) * 8);
}

inline uint64_t caps_dense_q_scratch_size(const kernels::CapsDenseQParams& p, int lanes, int sum_lanes) {
  if (caps_dense_q_uses_reference(p)) return ref::caps_dense_q_scratch_size(p);
  const kernels::CapsPredictParams& q = p.predict;
  const uint64_t ip = static_cast<uint64_t>(caps_dense_q_padded(q.in_caps, lanes));
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim;
  const uint64_t tasks = static_cast<uint64_t>(p.threads > 1 ? p.threads : 1);
  return kernels::align_up(static_cast<uint64_t>((q.in_dim + 1) / 2) * ip * 4) + kernels::align_up(jd * ip * 2) +
         kernels::align_up(jd * 8) + kernels::align_up(jd * 4) + tasks * caps_dense_q_task_bytes(p, lanes, sum_lanes);
}

inline CapsDenseQScratch carve_caps_dense_q(const kernels::CapsDenseQParams& p, int lanes, int sum_lanes,
                                            void* scratch) {
  const kernels::CapsPredictParams& q = p.predict;
  const uint64_t ip = static_cast<uint64_t>(caps_dense_q_padded(q.in_caps, lanes));
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim;
  kernels::ScratchCarver carve{scratch};
  CapsDenseQScratch s;
  s.u_pairs = carve.take<int16_t>(static_cast<uint64_t>((q.in_dim + 1) / 2) * ip * 2);  // int16 pairs
  s.u_hat = carve.take<int16_t>(jd * ip);
  s.S = carve.take<int64_t>(jd);
  s.V = carve.take<int32_t>(jd);
  s.tasks = carve.at;
  s.task_bytes = caps_dense_q_task_bytes(p, lanes, sum_lanes);
  return s;
}

inline CapsDenseQTask caps_dense_q_task(const kernels::CapsDenseQParams& p, const CapsDenseQScratch& s, int lanes,
                                        int t) {
  const uint64_t l = static_cast<uint64_t>(lanes), j = static_cast<uint64_t>(p.predict.out_caps);
  kernels::ScratchCarver carve{s.tasks + static_cast<uint64_t>(t) * s.task_bytes};
  CapsDenseQTask k;
  k.b = carve.take<int32_t>(j * l);
  k.e = carve.take<int64_t>(j * l);
  k.S_lanes = reinterpret_cast<int64_t*>(carve.at);  // [J*DO, sum_lanes]: the rest of the task
  return k;
}

// The tasks a pass over the predictions is cut into (kernels/parallel.h): at most one per unit,
// and one below kParallelMinCapsMacs multiply-adds (J x DO x I x `per_prediction`).
inline int caps_dense_q_tasks(const kernels::CapsDenseQParams& p, int64_t units, int per_prediction) {
  const kernels::CapsPredictParams& q = p.predict;
  const int64_t macs = int64_t{q.out_caps} * q.out_dim * q.in_caps * per_prediction;
  return kernels::task_count(kernels::worth_splitting(p.parallel, macs, kernels::kParallelMinCapsMacs), p.threads, units);
}

// The predictions' classes cut among the tasks: f(j0, j1) makes u_hat for the classes [j0, j1).
template <typename F>
void caps_dense_q_split_classes(const kernels::CapsDenseQParams& p, F&& f) {
  const int J = p.predict.out_caps;
  const int tasks = caps_dense_q_tasks(p, J, p.predict.in_dim);
  kernels::run_tasks(p.parallel, tasks, [&](int t) {
    const kernels::Share sh = kernels::task_share(J, tasks, t);
    f(static_cast<int>(sh.begin), static_cast<int>(sh.end));
  });
}

// u [I][DI] -> u_pairs [DI/2][Ip][2] (int16): u[i][k] and u[i][k+1] side by side, for the
// kernels' pairwise multiply-adds; 0 past DI and in the tail lanes.
inline void pair_inputs(const kernels::CapsDenseQParams& p, const int8_t* u, int Ip, int16_t* u_pairs) {
  const int I = p.predict.in_caps, DI = p.predict.in_dim;
  for (int kp = 0; kp < (DI + 1) / 2; ++kp)
    for (int i = 0; i < Ip; ++i)
      for (int h = 0; h < 2; ++h) {
        const int k = 2 * kp + h;
        u_pairs[(kp * Ip + i) * 2 + h] = i < I && k < DI ? u[i * DI + k] : int16_t{0};
      }
}

// The end of routing iteration `iter`: S from the partial sums of `tasks` tasks (integers: the
// same whatever the cut), then v_j = squash(s_j) (and V_j += v_j but after the last iteration),
// as ref::caps_dense_q.
inline void end_routing_iteration(const kernels::CapsDenseQParams& p, const CapsDenseQScratch& s,
                                  const int32_t* requant, int lanes, int sum_lanes, int tasks, int iter,
                                  int16_t* v) {
  const int J = p.predict.out_caps, D = p.predict.out_dim;
  for (int n = 0; n < J * D; ++n) s.S[n] = 0;
  for (int t = 0; t < tasks; ++t) {
    const int64_t* S_lanes = caps_dense_q_task(p, s, lanes, t).S_lanes;
    for (int n = 0; n < J * D; ++n)
      for (int l = 0; l < sum_lanes; ++l) s.S[n] += S_lanes[static_cast<size_t>(n) * sum_lanes + l];
  }
  for (int j = 0; j < J; ++j)
    fx::routing_squash_q(p.squash, s.S + j * D, D, 15 + requant[3 * j + 2] - p.squash.in_frac,
                         iter + 1 < p.iterations, v + j * D, s.V + j * D);
}

}  // namespace simd
}  // namespace capsrt

#endif
