// Parameter structs shared by every implementation of a kernel (reference, AVX2, AVX-512, NEON,
// int8). Plain PODs; the kernels never allocate and never fail: the runtime validates shapes first.
#ifndef CAPSRT_KERNELS_KERNEL_PARAMS_H
#define CAPSRT_KERNELS_KERNEL_PARAMS_H

#include <cstddef>
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
  caps_layout weight_layout = CAPS_LAYOUT_ROW_MAJOR;  // ROW_MAJOR [O,C,KH,KW] or CONV_IHWO
};

// Where weight (o, c, ky, kx) of a convolution lives, for each layout (format.h defines them).
inline size_t conv_weight_index(const Conv2DParams& p, int o, int c, int ky, int kx) {
  const size_t tap = (static_cast<size_t>(c) * p.kernel_h + ky) * p.kernel_w + kx;
  if (p.weight_layout == CAPS_LAYOUT_CONV_IHWO) return tap * p.out_channels + o;
  return static_cast<size_t>(o) * p.in_channels * p.kernel_h * p.kernel_w + tap;
}

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
  caps_layout weight_layout = CAPS_LAYOUT_ROW_MAJOR;  // ROW_MAJOR [J,I,DO,DI] or CAPS_JDKI
};

// Where W[j][i][d][k] lives, for each layout.
inline size_t caps_weight_index(const CapsPredictParams& p, int j, int i, int d, int k) {
  if (p.weight_layout == CAPS_LAYOUT_CAPS_JDKI)
    return ((static_cast<size_t>(j) * p.out_dim + d) * p.in_dim + k) * p.in_caps + i;
  return ((static_cast<size_t>(j) * p.in_caps + i) * p.out_dim + d) * p.in_dim + k;
}

struct RoutingParams {
  int in_caps;    // I
  int out_caps;   // J
  int out_dim;    // DO
  int iterations; // >= 1
  caps_softmax_axis softmax_axis;
  SquashParams squash;
};

// The whole CapsDense op: the u_hat transform, then dynamic routing.
struct CapsDenseParams {
  CapsPredictParams predict;
  RoutingParams routing;
};

struct DenseParams {
  int in_features, out_features;
  caps_activation activation;
};

}  // namespace kernels
}  // namespace capsrt

#endif
