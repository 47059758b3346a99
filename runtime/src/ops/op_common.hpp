// Internal: what several op records share (op_common.cpp): parameter checks, the convolution's
// geometry (Conv2D and PrimaryCaps), kernel parameter structs made from an op, and the int8
// checks of a dot-product op's constants.
#ifndef CAPSRT_OPS_OP_COMMON_HPP
#define CAPSRT_OPS_OP_COMMON_HPP

#include "capsrt/capsrt.hpp"
#include "op_record.hpp"

namespace capsrt {
namespace ops {

constexpr uint32_t kMaxStride = 64;
constexpr uint32_t kMaxPad = 64;
constexpr uint32_t kMaxCapsDim = 64;   // poses and capsules fit small stack buffers
constexpr uint32_t kMaxSquashFrac = 16;  // fixed_point.h's SquashQ bound
// Products of int8 values in one int32 sum, with room for the bias: 2^31 / (128 x 127), rounded
// down to leave 2^24 for it (docs/fixed-point.md).
constexpr uint64_t kMaxQDotTerms = 131072;

// Every params[k] for k >= first is zero (unused params must be).
bool params_zero_from(const caps_op_entry& op, int first);

Shape make_shape(uint32_t rank, uint64_t d0, uint64_t d1 = 0, uint64_t d2 = 0);

// Conv2D and PrimaryCaps: checks x [C,H,W], w [O,C,KH,KW], b [O] and the geometry in params 0-3,
// and computes the conv's output shape [O,OH,OW].
caps_status infer_conv(const caps_op_entry& op, const Shape* in, Shape* out);
uint64_t conv_macs(const Shape& x, const Shape& w, const Shape& y);

// The int8 form's checks shared by the dot-product ops (Conv2D, PrimaryCaps, Dense): the
// requantisation table is [O,2], and a sum of K products of int8 values fits an int32 with room
// for the bias (q_bias_bound).
caps_status infer_q_dot(const Shape& requant, uint64_t out_channels, uint64_t k);

// A squash eps in Q32 (two params, low word first) below 2^62 (fixed_point.h's bound).
inline bool eps_q32_ok(uint32_t hi) { return hi < (1u << 30); }

// The int8 constants of a dot-product op: weights (slot 1) in [-127, 127] with K4O padding zero,
// biases (slot 2) within q_bias_bound, requantisation rows (slot 3, [O,2]) with multipliers in
// [2^30, 2^31) and shifts in [1, 62] (docs/fixed-point.md).
caps_status check_q_dot_constants(const Model& m, const caps_op_entry& op);
// Weights of slot 1 in [-127, 127] (vpmaddubsw-style kernels feed |x| and w with x's sign: -128
// would overflow), and the K4O padding zero.
caps_status check_q_weights(const Model& m, const caps_op_entry& op);
// Requantisation rows of `columns` int32 (multiplier, shift, ...) in slot `slot`.
caps_status check_q_requant(const Model& m, const caps_op_entry& op, uint32_t slot,
                            uint32_t columns);

// Kernel parameter structs made from a validated op. The kernels take sizes as int: every dim,
// and every element count of a tensor or of an intermediate buffer, is below 2^31
// (CAPS_MAX_BUFFER_BYTES, checked by Model::validate and infer), so the narrowing is exact.
kernels::Conv2DParams conv_params(const OpView& v, const Shape& out, caps_activation act);
// A conv's output shape [O,OH,OW] from its geometry (infer_conv checks it first).
Shape conv_output_shape(const caps_op_entry& op, const Shape& x, const Shape& w);
kernels::Conv2DQParams conv_q_params(const OpView& v, const Shape& out, bool relu, int out_bytes);
kernels::SquashParams squash_params(const caps_model_attributes& attrs);
fx::SquashQ squash_q(const caps_model_attributes& attrs, uint32_t in_frac, int out_frac,
                     uint32_t eps_lo, uint32_t eps_hi);

// Typed views of a prepared op's buffers.
inline const float* f32(const void* p) { return static_cast<const float*>(p); }
inline float* f32(void* p) { return static_cast<float*>(p); }
inline const int8_t* i8(const void* p) { return static_cast<const int8_t*>(p); }
inline int8_t* i8(void* p) { return static_cast<int8_t*>(p); }
inline const int16_t* i16(const void* p) { return static_cast<const int16_t*>(p); }
inline int16_t* i16(void* p) { return static_cast<int16_t*>(p); }
inline const int32_t* i32(const void* p) { return static_cast<const int32_t*>(p); }
inline int32_t* i32(void* p) { return static_cast<int32_t*>(p); }

}  // namespace ops
}  // namespace capsrt

#endif
