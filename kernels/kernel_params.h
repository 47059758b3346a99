// Parameter structs shared by every implementation of a kernel (reference, AVX2, NEON, int8).
// Plain PODs; the kernels never allocate and never fail: the runtime validates shapes first.
#ifndef CAPSRT_KERNELS_KERNEL_PARAMS_H
#define CAPSRT_KERNELS_KERNEL_PARAMS_H

#include <cstdint>

#include "capsrt/format.h"

namespace capsrt {
namespace kernels {

// Batch-1 2D convolution over NCHW data. Output size: (in + 2*pad - kernel) / stride + 1.
struct Conv2DParams {
  int in_channels, in_height, in_width;
  int out_channels, out_height, out_width;
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_h, pad_w;            // zero padding on each side
  caps_activation activation;  // NONE or RELU
};

struct SquashParams {
  caps_squash_eps_mode eps_mode;
  float eps;
};

// Capsule grouping of a conv output [channels, height, width] into [count, dim] capsules.
struct GroupingParams {
  caps_grouping mode;
  int channels, height, width;
  int dim;  // capsule dimension D
};

// u_hat[j][i][d] = sum_k W[j][i][d][k] * u[i][k]
struct CapsPredictParams {
  int in_caps, in_dim;    // I, DI
  int out_caps, out_dim;  // J, DO
};

struct RoutingParams {
  int in_caps;    // I
  int out_caps;   // J
  int out_dim;    // DO
  int iterations; // >= 1
  caps_softmax_axis softmax_axis;
  SquashParams squash;
};

struct DenseParams {
  int in_features, out_features;
  caps_activation activation;
};

}  // namespace kernels
}  // namespace capsrt

#endif
