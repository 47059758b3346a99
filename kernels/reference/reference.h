// Reference kernels: plain C++, written to be read. They are the specification that the SIMD and
// int8 kernels are tested against, and the kernels used on cores without a SIMD unit.
// Layouts are row-major; "[A,B]" means A*B contiguous floats, last index fastest.
#ifndef CAPSRT_KERNELS_REFERENCE_H
#define CAPSRT_KERNELS_REFERENCE_H

#include "kernel_params.h"

namespace capsrt {
namespace ref {

using namespace capsrt::kernels;

// in [C,H,W], weights [O,C,KH,KW] (in p.weight_layout), bias [O] -> out [O,OH,OW].
void conv2d_f32(const Conv2DParams& p, const float* in, const float* weights, const float* bias,
                float* out);

// Squashes `count` vectors of `dim` floats each: v = s * |s|^2/(1+|s|^2) / (|s|+eps) or
// / sqrt(|s|^2+eps). A zero vector (and any s with |s|^2 == 0) maps to zero, the limit of the
// formula, also when eps is 0. `in` and `out` may be the same buffer.
void squash_f32(const SquashParams& p, const float* in, float* out, int count, int dim);

// Gathers a conv output [C,H,W] into capsules [N,D] by the grouping mode (see caps_grouping).
void group_capsules_f32(const GroupingParams& p, const float* conv_out, float* capsules);

// u [I,DI], W [J,I,DO,DI] (in p.weight_layout) -> u_hat [J,I,DO].
void caps_predict_f32(const CapsPredictParams& p, const float* u, const float* weights,
                      float* u_hat);

// Dynamic routing (Sabour et al. 2017, procedure 1) over u_hat [J,I,DO] -> v [J,DO].
// logits and coupling are scratch of J*I floats each.
void dynamic_routing_f32(const RoutingParams& p, const float* u_hat, float* logits,
                         float* coupling, float* v);

// The CapsDense op: caps_predict_f32 into scratch, then dynamic_routing_f32. Scratch (its size
// from caps_dense_f32_scratch_size): u_hat [J,I,DO], logits [J,I], coupling [J,I], each rounded
// up to 64 bytes.
uint64_t caps_dense_f32_scratch_size(const CapsDenseParams& p);
void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch);

// Numerically stable softmax over `count` floats with stride `stride` (in place allowed).
void softmax_f32(const float* in, float* out, int count, int stride);

// out[j] = sqrt(sum_d v[j][d]^2 + eps) for v [count, dim].
void vector_length_f32(const float* v, float* out, int count, int dim, float eps);

// out [count*dim] = v with every row but `keep` zeroed.
void mask_f32(const float* v, float* out, int count, int dim, int keep);

// in [K], weights [N,K], bias [N] -> out [N], then the activation.
void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out);

}  // namespace ref
}  // namespace capsrt

#endif
