// What the SIMD int8 CapsDense kernels (x86_avx2/, x86_avx512_vnni/, arm_neon/caps_dense_q.cpp)
// share, in plain C++: when they apply, their scratch, the rearranged input capsules, and the end
// of a routing iteration. `lanes` is a kernel's input capsules per block, `sum_lanes` the int64
// partial sums it keeps per (j, d).
#ifndef CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_COMMON_H
#define CAPSRT_KERNELS_SIMD_CAPS_DENSE_Q_COMMON_H

#include <cstdint>

#include "fixed_point.h"
#include "kernel_params.h"
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
// predictions int16 [J][DO][Ip], a block's logits int32 [J][lanes] and exponentials (8 bytes
// each) [J][lanes], S int64 [J][DO], V int32 [J][DO], each rounded up to 64 bytes, then S's
// partial sums int64 [J][DO][sum_lanes]. Known in every build; the reference's where it runs.
struct CapsDenseQScratch {
  int16_t* u_pairs;
  int16_t* u_hat;
  int32_t* b;
  int64_t* e;
  int64_t* S;
  int32_t* V;
  int64_t* S_lanes;
};

inline uint64_t caps_dense_q_scratch_size(const kernels::CapsDenseQParams& p, int lanes, int sum_lanes) {
  if (caps_dense_q_uses_reference(p)) return ref::caps_dense_q_scratch_size(p);
  const kernels::CapsPredictParams& q = p.predict;
  const uint64_t ip = static_cast<uint64_t>(caps_dense_q_padded(q.in_caps, lanes)), l = static_cast<uint64_t>(lanes);
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim, j = static_cast<uint64_t>(q.out_caps);
  return kernels::align_up(static_cast<uint64_t>((q.in_dim + 1) / 2) * ip * 4) + kernels::align_up(jd * ip * 2) + kernels::align_up(j * l * 4) +
         kernels::align_up(j * l * 8) + kernels::align_up(jd * 8) + kernels::align_up(jd * 4) + jd * static_cast<uint64_t>(sum_lanes) * 8;
}

inline CapsDenseQScratch carve_caps_dense_q(const kernels::CapsDenseQParams& p, int lanes, void* scratch) {
  const kernels::CapsPredictParams& q = p.predict;
  const uint64_t ip = static_cast<uint64_t>(caps_dense_q_padded(q.in_caps, lanes)), l = static_cast<uint64_t>(lanes);
  const uint64_t jd = static_cast<uint64_t>(q.out_caps) * q.out_dim, j = static_cast<uint64_t>(q.out_caps);
  uint8_t* at = static_cast<uint8_t*>(scratch);
  CapsDenseQScratch s;
  s.u_pairs = reinterpret_cast<int16_t*>(at);
  at += kernels::align_up(static_cast<uint64_t>((q.in_dim + 1) / 2) * ip * 4);
  s.u_hat = reinterpret_cast<int16_t*>(at);
  at += kernels::align_up(jd * ip * 2);
  s.b = reinterpret_cast<int32_t*>(at);
  at += kernels::align_up(j * l * 4);
  s.e = reinterpret_cast<int64_t*>(at);
  at += kernels::align_up(j * l * 8);
  s.S = reinterpret_cast<int64_t*>(at);
  at += kernels::align_up(jd * 8);
  s.V = reinterpret_cast<int32_t*>(at);
  at += kernels::align_up(jd * 4);
  s.S_lanes = reinterpret_cast<int64_t*>(at);
  return s;
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

// The end of routing iteration `iter`: S from its partial sums, then v_j = squash(s_j) (and
// V_j += v_j but after the last iteration), as ref::caps_dense_q.
inline void end_routing_iteration(const kernels::CapsDenseQParams& p, const CapsDenseQScratch& s,
                                  const int32_t* requant, int sum_lanes, int iter, int16_t* v) {
  const int J = p.predict.out_caps, D = p.predict.out_dim;
  for (int n = 0; n < J * D; ++n) {
    int64_t sum = 0;
    for (int l = 0; l < sum_lanes; ++l) sum += s.S_lanes[static_cast<size_t>(n) * sum_lanes + l];
    s.S[n] = sum;
  }
  for (int j = 0; j < J; ++j)
    fx::routing_squash_q(p.squash, s.S + j * D, D, 15 + requant[3 * j + 2] - p.squash.in_frac,
                         iter + 1 < p.iterations, v + j * D, s.V + j * D);
}

}  // namespace simd
}  // namespace capsrt

#endif
