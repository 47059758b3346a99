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

// The CapsDense op: caps_predict_f32 into scratch, then dynamic_routing_f32; or, with
// p.low_memory, the low-memory routing (predictions recomputed, b = u_hat . V; scratch V, S and
// one column of predictions [J,DO], logits and coupling [max(J,I)]). Scratch (its size
// from caps_dense_f32_scratch_size): u_hat [J,I,DO], logits [J,I], coupling [J,I], each rounded
// up to 64 bytes.
uint64_t caps_dense_f32_scratch_size(const CapsDenseParams& p);
void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch);

// EM routing of one output position (EmRoutingParams): votes [C,I,16], a_in [I], beta_u and
// beta_a [C] -> mu [C,16] (the output poses) and a_out [C]. Scratch: em_routing_f32_scratch_size
// bytes (the couplings [C,I], sigma^2 [C,16], the per-output and per-input sums).
uint64_t em_routing_f32_scratch_size(const EmRoutingParams& p);
void em_routing_f32(const EmRoutingParams& p, const float* votes, const float* a_in, const float* beta_u,
                    const float* beta_a, float* mu, float* a_out, void* scratch);

// yl-1993's EM layers (EmPrimaryCapsParams, EmConvCapsParams, EmClassCapsParams).
// PrimaryCaps: in [A,H,W], weights [17B,A], bias [17B] -> out [H,W,17B].
void em_primary_caps_f32(const EmPrimaryCapsParams& p, const float* in, const float* weights, const float* bias,
                         float* out);
// ConvCaps: in [H,W,17B], weights [KKB,C,4,4], beta_u and beta_a [C] -> out [OH,OW,17C]. The
// positions are routed one at a time: each task's scratch slot (em_conv_caps_slot_bytes; p.threads
// of them) holds one position's votes [C,KKB,16], its input activations and the routing's scratch.
uint64_t em_conv_caps_slot_bytes(const EmConvCapsParams& p);
uint64_t em_conv_caps_f32_scratch_size(const EmConvCapsParams& p);
void em_conv_caps_f32(const EmConvCapsParams& p, const float* in, const float* weights, const float* beta_u,
                      const float* beta_a, float* out, void* scratch);
// ClassCaps: in [H,W,17D], weights [D,E,4,4], beta_u and beta_a [E] -> activations [E] and, if
// poses is not null, the poses [E,16]. Scratch: the votes [E,HWD,16], the input activations, the
// poses when not asked for, and the routing's scratch.
uint64_t em_class_caps_f32_scratch_size(const EmClassCapsParams& p);
void em_class_caps_f32(const EmClassCapsParams& p, const float* in, const float* weights, const float* beta_u,
                       const float* beta_a, float* activations, float* poses, void* scratch);

// Numerically stable softmax over `count` floats with stride `stride` (in place allowed).
void softmax_f32(const float* in, float* out, int count, int stride);

// out[j] = sqrt(sum_d v[j][d]^2 + eps) for v [count, dim].
void vector_length_f32(const float* v, float* out, int count, int dim, float eps);

// out [count*dim] = v with every row but `keep` zeroed.
void mask_f32(const float* v, float* out, int count, int dim, int keep);

// in [K], weights [N,K], bias [N] -> out [N], then the activation.
void dense_f32(const DenseParams& p, const float* in, const float* weights, const float* bias,
               float* out);

// --- the int8 path (docs/fixed-point.md): integer arithmetic only ----------------------------

// Int8 convolution (Conv2DQParams): out is int8 or int16 [O,OH,OW] by p.out_bytes. Scratch:
// one int32 output plane (conv2d_q_scratch_size).
uint64_t conv2d_q_scratch_size(const Conv2DQParams& p);
void conv2d_q(const Conv2DQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
              const int32_t* requant, void* out, void* scratch);

// Groups the PrimaryCaps conv output (int16) into capsules and squashes each into int8 Q7.
void primary_squash_q(const PrimarySquashQParams& p, const int16_t* conv_out, int8_t* capsules);

// CapsDense: predictions and routing (docs/fixed-point.md, "Routing") -> poses int16 [J,DO] Q15.
// Scratch: the predictions int16 [J,I,DO] unless low_memory, then V int32 [J,DO], S int64
// [J,DO], logits and coupling int32 [max(J,I)] each, one column of predictions int16 [J,DO].
uint64_t caps_dense_q_scratch_size(const CapsDenseQParams& p);
void caps_dense_q(const CapsDenseQParams& p, const int8_t* u, const int8_t* weights,
                  const int32_t* requant, int16_t* v, void* scratch);

// Scores in Q15: the lengths sqrt(|v_j|^2 + eps), or (softmax) their softmax over the classes.
void length_q(const int16_t* v, int32_t* out, int count, int dim, uint32_t eps_q30, bool softmax);

// The decoder's input: v [count, dim] Q15 to int8 Q7, every row but `keep` zero.
void mask_q(const int16_t* v, int8_t* out, int count, int dim, int keep);

// Int8 dense layer (DenseQParams).
void dense_q(const DenseQParams& p, const int8_t* in, const int8_t* weights, const int32_t* bias,
             const int32_t* requant, int8_t* out);

}  // namespace ref
}  // namespace capsrt

#endif
