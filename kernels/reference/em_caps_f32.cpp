// yl-1993's EM capsule layers (model/capsules.py): PrimaryCaps, ConvCaps over K x K patches and
// ClassCaps with coordinate addition. The routing itself is em_routing_f32. Layouts are in
// kernel_params.h (EmPrimaryCapsParams and the two after it).
#include <cmath>

#include "parallel.h"
#include "reference.h"

namespace capsrt {
namespace ref {

namespace {

constexpr int kPose = 16;  // a 4x4 pose matrix

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// v [4x4] = m [4x4] w [4x4], row-major (yl-1993's V_ij = M_i W_ij).
void matmul4(const float* m, const float* w, float* v) {
  for (int row = 0; row < 4; ++row)
    for (int col = 0; col < 4; ++col) {
      float sum = 0.0f;
      for (int k = 0; k < 4; ++k) sum += m[row * 4 + k] * w[k * 4 + col];
      v[row * 4 + col] = sum;
    }
}

}  // namespace

void em_primary_caps_f32(const EmPrimaryCapsParams& p, const float* in, const float* weights, const float* bias,
                         float* out) {
  const int A = p.in_channels, B = p.types, hw = p.height * p.width, rows = 17 * B;
  for (int pos = 0; pos < hw; ++pos) {
    float* o = out + static_cast<size_t>(pos) * rows;
    for (int r = 0; r < rows; ++r) {
      float sum = bias[r];
      const float* w = weights + static_cast<size_t>(r) * A;
      for (int a = 0; a < A; ++a) sum += w[a] * in[static_cast<size_t>(a) * hw + pos];
      o[r] = r < kPose * B ? sum : sigmoid(sum);
    }
  }
}

// One task's scratch slot: one position's votes [C, I, 16], its input activations, the routing's.
uint64_t em_conv_caps_slot_bytes(const EmConvCapsParams& p) {
  const uint64_t I = static_cast<uint64_t>(p.kernel) * p.kernel * p.in_types;
  return align_up(static_cast<uint64_t>(p.out_types) * I * kPose * sizeof(float)) + align_up(I * sizeof(float)) +
         em_routing_f32_scratch_size(p.routing);
}

uint64_t em_conv_caps_f32_scratch_size(const EmConvCapsParams& p) {
  return em_conv_caps_slot_bytes(p) * static_cast<uint64_t>(p.threads < 1 ? 1 : p.threads);
}

void em_conv_caps_f32(const EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch) {
  const int B = p.in_types, C = p.out_types, K = p.kernel, I = K * K * B;
  const size_t in_depth = 17 * static_cast<size_t>(B), out_depth = 17 * static_cast<size_t>(C);
  const int64_t positions = static_cast<int64_t>(p.out_height) * p.out_width;
  const int tasks = task_count(p.parallel, p.threads, positions);
  run_tasks(p.parallel, tasks, [&](int task) {
    kernels::ScratchCarver carve{static_cast<unsigned char*>(scratch) + em_conv_caps_slot_bytes(p) * static_cast<uint64_t>(task)};
    float* votes = carve.take(static_cast<uint64_t>(C) * I * kPose);  // [C, I, 16]
    float* a_in = carve.take(static_cast<uint64_t>(I));
    void* routing_scratch = carve.at;
    const Share share = task_share(positions, tasks, task);
    for (int64_t pos = share.begin; pos < share.end; ++pos) {
      const int oy = static_cast<int>(pos / p.out_width), ox = static_cast<int>(pos % p.out_width);
      for (int kh = 0; kh < K; ++kh)
        for (int kw = 0; kw < K; ++kw) {
          const float* caps = in + (static_cast<size_t>(oy * p.stride + kh) * p.in_width + ox * p.stride + kw) * in_depth;
          for (int t = 0; t < B; ++t) {
            const int i = (kh * K + kw) * B + t;
            a_in[i] = caps[kPose * B + t];
            for (int c = 0; c < C; ++c)
              matmul4(caps + t * kPose, weights + (static_cast<size_t>(i) * C + c) * kPose,
                      votes + (static_cast<size_t>(c) * I + i) * kPose);
          }
        }
      float* o = out + static_cast<size_t>(pos) * out_depth;
      em_routing_f32(p.routing, votes, a_in, beta_u, beta_a, o, o + kPose * C, routing_scratch);
    }
  });
}

uint64_t em_class_caps_f32_scratch_size(const EmClassCapsParams& p) {
  const uint64_t I = static_cast<uint64_t>(p.in_height) * p.in_width * p.in_types, E = p.classes;
  return align_up(E * I * kPose * sizeof(float)) + align_up(I * sizeof(float)) + align_up(E * kPose * sizeof(float)) +
         em_routing_f32_scratch_size(p.routing);
}

void em_class_caps_f32(const EmClassCapsParams& p, const float* in, const float* weights, const float* beta_u,
                       const float* beta_a, float* activations, float* poses, void* scratch) {
  const int D = p.in_types, E = p.classes, H = p.in_height, W = p.in_width, I = H * W * D;
  const size_t in_depth = 17 * static_cast<size_t>(D);
  kernels::ScratchCarver carve{scratch};
  float* votes = carve.take(static_cast<uint64_t>(E) * I * kPose);  // [E, I, 16]
  float* a_in = carve.take(static_cast<uint64_t>(I));
  float* mu = carve.take(static_cast<uint64_t>(E) * kPose);
  if (poses != nullptr) mu = poses;
  void* routing_scratch = carve.at;
  const int row_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 3 : 0;
  const int col_elem = p.coord_add == CAPS_EM_COORD_ELEMENTS_3_7 ? 7 : 1;
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const float* caps = in + (static_cast<size_t>(y) * W + x) * in_depth;
      for (int t = 0; t < D; ++t) {
        const int i = (y * W + x) * D + t;
        a_in[i] = caps[kPose * D + t];
        for (int e = 0; e < E; ++e) {
          float* v = votes + (static_cast<size_t>(e) * I + i) * kPose;
          matmul4(caps + t * kPose, weights + (static_cast<size_t>(t) * E + e) * kPose, v);
          if (p.coord_add != CAPS_EM_COORD_NONE) {
            v[row_elem] += static_cast<float>(y) / static_cast<float>(H);
            v[col_elem] += static_cast<float>(x) / static_cast<float>(W);
          }
        }
      }
    }
  em_routing_f32(p.routing, votes, a_in, beta_u, beta_a, mu, activations, routing_scratch);
}

}  // namespace ref
}  // namespace capsrt
