// Parameter structs shared by every implementation of a kernel (reference, AVX2, AVX-512, NEON,
// int8). Plain PODs; the kernels never allocate and never fail: the runtime validates shapes first.
#ifndef CAPSRT_KERNELS_KERNEL_PARAMS_H
#define CAPSRT_KERNELS_KERNEL_PARAMS_H

#include <cstddef>
#include <cstdint>

#include "capsrt/file_format.h"
#include "fixed_point.h"

namespace capsrt {
namespace kernels {

struct Parallel;  // kernels/parallel.h: the caller's parallel_for, as the kernels see it

// `n` bytes rounded up to CAPS_ALIGN (64): where each buffer in an arena or a kernel's scratch
// starts, so that every one is aligned for the widest vector loads.
constexpr uint64_t align_up(uint64_t n) { return (n + CAPS_ALIGN - 1) / CAPS_ALIGN * CAPS_ALIGN; }

// Hands out a kernel's scratch arrays in order, each at a CAPS_ALIGN boundary: the layout that the
// kernel's scratch-size function sums with align_up. `at` is where the next array would start.
struct ScratchCarver {
  unsigned char* at;
  explicit ScratchCarver(void* scratch) : at(static_cast<unsigned char*>(scratch)) {}
  template <typename T = float>
  T* take(uint64_t count) {
    T* array = reinterpret_cast<T*>(at);
    at += align_up(count * sizeof(T));
    return array;
  }
};

// Batch-1 2D convolution over NCHW data. Output size: (in + 2*pad - kernel) / stride + 1.
struct Conv2DParams {
  int in_channels, in_height, in_width;
  int out_channels, out_height, out_width;
  int kernel_h, kernel_w;
  int stride_h, stride_w;
  int pad_h, pad_w;            // zero rows and columns before the input (and as many after;
                               // pad_h_extra and pad_w_extra below add more after)
  caps_activation activation;  // NONE or RELU
  caps_layout weight_layout = CAPS_LAYOUT_ROW_MAJOR;  // ROW_MAJOR [O,C,KH,KW] or CONV_IHWO
  // Threads inside the op (kernels/parallel.h): the scratch slots its scratch size has room for
  // (the most tasks a run may cut), and the hook of this run (the runner sets it; NULL: serial).
  // The SIMD kernels split; the reference ones run on the calling thread.
  int threads = 1;
  const Parallel* parallel = nullptr;
  // Extra zero rows and columns after the input, beyond pad_h and pad_w (TensorFlow's 'same'
  // padding with an odd total); out_height and out_width count them. (Last, so that the
  // positional initialisers of the fields above stay valid.)
  int pad_h_extra = 0, pad_w_extra = 0;
};

// The packed weight layouts (format.h): where element (a, b, c, d) of a row-major [A,B,C,D]
// weight tensor lies once packed. The model writer packs with these, the kernels read with them.
// CAPS_LAYOUT_CONV_IHWO: conv weights [O,C,KH,KW] as [C,KH,KW,O], the output channel fastest.
inline size_t conv_ihwo_index(size_t O, size_t KH, size_t KW, size_t o, size_t c, size_t ky, size_t kx) {
  return ((c * KH + ky) * KW + kx) * O + o;
}
// CAPS_LAYOUT_CAPS_JDKI: CapsDense W [J,I,DO,DI] as [J,DO,DI,I], the input capsule fastest.
inline size_t caps_jdki_index(size_t I, size_t DO, size_t DI, size_t j, size_t i, size_t d, size_t k) {
  return ((j * DO + d) * DI + k) * I + i;
}

// Where weight (o, c, ky, kx) of a convolution lives, for each layout (format.h defines them).
inline size_t conv_weight_index(const Conv2DParams& p, int o, int c, int ky, int kx) {
  if (p.weight_layout == CAPS_LAYOUT_CONV_IHWO)
    return conv_ihwo_index(static_cast<size_t>(p.out_channels), static_cast<size_t>(p.kernel_h),
                           static_cast<size_t>(p.kernel_w), static_cast<size_t>(o),
                           static_cast<size_t>(c), static_cast<size_t>(ky), static_cast<size_t>(kx));
  return ((static_cast<size_t>(o) * p.in_channels + c) * p.kernel_h + ky) * p.kernel_w + kx;
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
    return caps_jdki_index(static_cast<size_t>(p.in_caps), static_cast<size_t>(p.out_dim),
                           static_cast<size_t>(p.in_dim), static_cast<size_t>(j),
                           static_cast<size_t>(i), static_cast<size_t>(d), static_cast<size_t>(k));
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

// EM routing (Hinton, Sabour and Frosst 2018) of one output position, as
// yl-1993/Matrix-Capsules-EM-PyTorch computes it (docs/em-routing.md lists what differs from
// the paper): votes [C, I, 16] (4x4 pose matrices), input activations [I] -> the output poses
// mu [C, 16] and activations [C].
enum EmMStep : int {
  // r <- r a_in, then renormalised over the output capsules (the input activations cancel, up
  // to eps): yl-1993's code
  kEmMStepRenormalised = 0,
  // r <- r a_in (the paper's)
  kEmMStepScaled = 1,
};
struct EmRoutingParams {
  int in_caps;      // I
  int out_caps;     // C
  int iterations;   // >= 1; the last one skips the E-step
  float lambda;     // inverse temperature of the output activations (1e-3 fixed in yl-1993's code)
  float eps;        // added to each sum it divides by and to sigma^2 (1e-8)
  EmMStep m_step;
  // Tests only: the E-step runs after the last M-step too, and its couplings r [C, I] are left
  // at the start of the scratch.
  bool e_step_after_last = false;
};

// yl-1993's EM layers (docs/em-routing.md). Capsule tensors are [H, W, 17 T] for T capsule types
// at each position: the 16 T pose values first (type t's 4x4 matrix at 16 t, row-major), then
// the T activations.
//
// PrimaryCaps: two 1x1 convs over the [A, H, W] input, as one matrix [17 B, A] (the 16 B pose
// rows, then the B activation rows, whose outputs go through a sigmoid), bias [17 B].
struct EmPrimaryCapsParams {
  int in_channels, height, width;  // A, H, W
  int types;                       // B
};

// ConvCaps over K x K patches: input capsule i = (kh K + kw) B + t of the patch at (oy s, ox s)
// votes V_ij = M_i W_ij (W [K K B, C, 4, 4]); EM routing per output position.
struct EmConvCapsParams {
  int in_height, in_width, in_types;  // H, W, B
  int out_height, out_width, out_types;  // (H - K) / s + 1, (W - K) / s + 1, C
  int kernel, stride;
  EmRoutingParams routing;  // in_caps K K B, out_caps C
  // Threads inside the op (kernels/parallel.h): the output positions are cut into tasks, each
  // with its own scratch slot (one position's votes and the routing's); every position is
  // routed by the same code, so the result does not depend on the thread count.
  int threads = 1;
  const Parallel* parallel = nullptr;
};

// ClassCaps: every input capsule (y W + x) D + t votes with W [t] (W [D, E, 4, 4], shared
// across positions); coordinate addition adds y / H and x / W to two elements of each vote
// (yl-1993's code: 0 and 1; the paper: 3 and 7).
struct EmClassCapsParams {
  int in_height, in_width, in_types;  // H, W, D
  int classes;                        // E
  caps_em_coord_add coord_add;
  EmRoutingParams routing;  // in_caps H W D, out_caps E
};

// The whole CapsDense op: the u_hat transform, then dynamic routing.
struct CapsDenseParams {
  CapsPredictParams predict;
  RoutingParams routing;
  // Low-memory routing (format 1.2, a conversion option): the predictions are recomputed where
  // needed and the logits are b = u_hat . (sum of the earlier v), never stored. The reference
  // kernel does it; the runtime runs the reference CapsDense for such an op on every set.
  bool low_memory = false;
  int threads = 1;  // as Conv2DParams's
  const Parallel* parallel = nullptr;
};

struct DenseParams {
  int in_features, out_features;
  caps_activation activation;
};

// Where component k of capsule i comes from in a conv output [channels, height, width], for
// each grouping mode (see caps_grouping): its flat index.
inline size_t capsule_source_index(const GroupingParams& p, int i, int k) {
  const size_t plane = static_cast<size_t>(p.height) * p.width;
  const int groups = p.channels / p.dim;
  switch (p.mode) {
    case CAPS_GROUPING_NHWC_CHANNELS:  // capsule (pix*G + g), component k: channel g*D+k
      return (static_cast<size_t>(i % groups) * p.dim + k) * plane + static_cast<size_t>(i / groups);
    case CAPS_GROUPING_PER_DIM_CONV:  // capsule (g*plane + pix), component k: channel k*G+g
      return (static_cast<size_t>(k) * groups + static_cast<size_t>(i) / plane) * plane +
             static_cast<size_t>(i) % plane;
    case CAPS_GROUPING_NCHW_VIEW:
    default:  // capsule i is flat[D*i .. D*i+D-1]
      return static_cast<size_t>(i) * p.dim + k;
  }
}

// The distance between components k and k+1 of a capsule in capsule_source_index's layout, the
// same for every capsule: index(i, k) = index(i, 0) + k * stride.
inline size_t capsule_component_stride(const GroupingParams& p) {
  const size_t plane = static_cast<size_t>(p.height) * p.width;
  switch (p.mode) {
    case CAPS_GROUPING_NHWC_CHANNELS: return plane;
    case CAPS_GROUPING_PER_DIM_CONV: return static_cast<size_t>(p.channels / p.dim) * plane;
    case CAPS_GROUPING_NCHW_VIEW:
    default: return 1;
  }
}

// --- the int8 path (docs/fixed-point.md) ----------------------------------------------------

// Int8 conv and dense weights, logical [O, K] (a conv's K runs over (c, ky, kx), kx fastest),
// are stored in CAPS_LAYOUT_K4O: groups of 4 along K, then the output channel, then the 4:
// element (o, k) at ((k/4)*O + o)*4 + k%4, K padded with zeros to a multiple of 4. A 32-bit
// lane then holds 4 products' operands of one output channel (vpdpbusd, sdot, vpmaddubsw pairs).
inline size_t k4o_index(int out_channels, int o, int k) {
  return (static_cast<size_t>(k / 4) * out_channels + o) * 4 + static_cast<size_t>(k % 4);
}
inline uint64_t k4o_bytes(uint64_t out_channels, uint64_t k) { return out_channels * ((k + 3) / 4 * 4); }

// Int8 convolution: in int8 [C,H,W] (padding reads pad_value, the input's zero point), weights
// K4O, bias int32 [O], requant int32 [O,2] (multiplier, shift); the requantised sum is clamped to
// [out_min, out_max] and stored as int8 (out_bytes 1) or int16 (2, the PrimaryCaps conv).
struct Conv2DQParams {
  Conv2DParams geom;  // activation and weight_layout unused
  int32_t pad_value;
  int32_t out_min, out_max;
  int out_bytes;
  // Every input value is >= 0 (the input is a ReLU's output, so the runtime knows): a SIMD
  // kernel may then feed it to vpmaddubsw / vpdpbusd as unsigned without a correction.
  bool input_nonneg = false;
};

// Int8 dense: in int8 [K], weights K4O [N,K], bias int32 [N], requant int32 [N,2]. Without
// sigmoid the result is clamped to [out_min, out_max]; with it, the requantised sum is a Q16
// logit and the output is round(255 sigmoid) - 128 (the reconstruction's pixel - 128).
struct DenseQParams {
  int in_features, out_features;
  int32_t out_min, out_max;
  bool sigmoid;
};

// An int8 dense output from its exact sum acc (bias included) and its requantisation row: every
// set's dense_q ends with this.
inline int8_t dense_q_output(const DenseQParams& p, int32_t acc, int32_t mult, int32_t shift) {
  const int64_t r = fx::requantize(acc, mult, shift);
  return static_cast<int8_t>(p.sigmoid ? fx::sigmoid_pixel(fx::clamp32(r, INT32_MIN, INT32_MAX)) - 128
                                       : fx::clamp32(r, p.out_min, p.out_max));
}

// PrimaryCaps after its conv: group the int16 conv output (Q in_frac) into capsules and squash
// them into int8 Q7.
struct PrimarySquashQParams {
  GroupingParams group;
  fx::SquashQ squash;  // out_frac 7
  int count;           // capsules
};

// CapsDense: u int8 [I,DI] Q7, W int8 [J,I,DO,DI] in predict.weight_layout (ROW_MAJOR or
// CAPS_JDKI), rq int32 [J,3] (multiplier, shift, F_u: the predictions' Q format), poses int16
// [J,DO] Q15. low_memory: the predictions are recomputed where needed instead of stored.
struct CapsDenseQParams {
  CapsPredictParams predict;
  int iterations;
  caps_softmax_axis softmax_axis;
  fx::SquashQ squash;  // in_frac F_s, out_frac 15
  bool low_memory;
  int threads = 1;  // as Conv2DParams's
  const Parallel* parallel = nullptr;
};

}  // namespace kernels
}  // namespace capsrt

#endif
