// Matrix capsules with EM routing (since format 1.5, float only; docs/em-routing.md), as
// yl-1993/Matrix-Capsules-EM-PyTorch builds them. Capsule tensors are [H,W,17T]: at each position
// the 16T pose values (type t's 4x4 matrix at 16t), then the T activations.
//   EmPrimaryCaps: x [A,H,W], w [17B,A], b [17B] -> [H,W,17B] (param: B).
//   EmConvCaps: x [H,W,17B], w [KKB,C,4,4], beta_u [C], beta_a [C] -> [OH,OW,17C], EM routing
//     per output position (params: K, stride, then the routing's).
//   EmClassCaps: x [H,W,17D], w [D,E,4,4] shared across positions, beta_u [E], beta_a [E] ->
//     the class activations [E] (params: coordinate addition, then the routing's).
// The routing's params: iterations, M-step, lambda and eps (float32 bits).

#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

constexpr uint32_t kMaxCapsTypes = 4096;  // B, C, D, E: keeps every product below in 64 bits
constexpr uint32_t kMaxEmKernel = 15;


// 0 < f <= the float whose bits are `max_bits` (positive), from the bits alone: validation does no
// float arithmetic (an int8-only build for a core without an FPU links none). Positive floats
// order as their bits; NaN, infinities, zeros and negatives fall outside.
bool in_positive_range(uint32_t bits, uint32_t max_bits) { return bits >= 1 && bits <= max_bits; }
constexpr uint32_t kBits1 = 0x3F800000u;    // 1.0f
constexpr uint32_t kBits1e4 = 0x461C4000u;  // 1e4f

// The routing's params (both routed ops): iterations, M-step, lambda in (0, 1e4], eps in (0, 1];
// params 6 and 7 zero.
bool routing_params_ok(const caps_op_entry& op) {
  return op.params[CAPS_EM_ITERATIONS] >= 1 && op.params[CAPS_EM_ITERATIONS] <= CAPS_MAX_ROUTING_ITERATIONS &&
         op.params[CAPS_EM_M_STEP] <= CAPS_EM_M_STEP_SCALED && in_positive_range(op.params[CAPS_EM_LAMBDA], kBits1e4) &&
         in_positive_range(op.params[CAPS_EM_EPS], kBits1) && params_zero_from(op, 6);
}

kernels::EmRoutingParams routing_params(const caps_op_entry& op, uint64_t in_caps, uint64_t out_caps) {
  kernels::EmRoutingParams r{};
  r.in_caps = static_cast<int>(in_caps);
  r.out_caps = static_cast<int>(out_caps);
  r.iterations = static_cast<int>(op.params[CAPS_EM_ITERATIONS]);
  r.lambda = caps_f32_from_bits(op.params[CAPS_EM_LAMBDA]);
  r.eps = caps_f32_from_bits(op.params[CAPS_EM_EPS]);
  r.m_step = op.params[CAPS_EM_M_STEP] == CAPS_EM_M_STEP_SCALED ? kernels::kEmMStepScaled
                                                                : kernels::kEmMStepRenormalised;
  return r;
}

// A capsule tensor [H,W,17T]: its T, or 0 when it is not one.
uint64_t capsule_types(const Shape& x) {
  if (x.rank != 3 || x.dims[0] < 1 || x.dims[1] < 1 || x.dims[2] % 17 != 0) return 0;
  const uint64_t t = x.dims[2] / 17;
  return t >= 1 && t <= kMaxCapsTypes ? t : 0;
}

// w [N,C,4,4] and beta_u, beta_a [C]
bool transform_ok(const Shape* in, uint64_t n, uint64_t c) {
  return in[1].rank == 4 && in[1].dims[0] == n && in[1].dims[1] == c && in[1].dims[2] == 4 && in[1].dims[3] == 4 &&
         in[2].rank == 1 && in[2].dims[0] == c && in[3].rank == 1 && in[3].dims[0] == c;
}

// A routing of I inputs to C outputs: its votes fit a buffer, [C, I, 16] for the reference and
// [C, 16, I rounded up to 16] for the SIMD kernels, which lay the transforms out the same way
// (kernels/simd/em_caps_scratch.h); its multiply-adds (votes: 64 each; per iteration about 4
// passes over the votes).
bool routing_fits(uint64_t in_caps, uint64_t out_caps) {
  return fits_buffer(mul_sat(mul_sat(in_caps + 16, out_caps), 16), sizeof(float));
}
uint64_t routing_macs(const caps_op_entry& op, uint64_t in_caps, uint64_t out_caps) {
  const uint64_t votes = in_caps * out_caps * 16;
  return votes * 4 + votes * 4 * op.params[CAPS_EM_ITERATIONS];
}

// --- EmPrimaryCaps ------------------------------------------------------------------------------

caps_status em_primary_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&,
                             bool quantized, OpInfo* info) {
  if (quantized) return CAPS_ERR_UNSUPPORTED;
  const uint64_t B = op.params[CAPS_EM_PRIMARY_TYPES];
  if (B < 1 || B > kMaxCapsTypes || !params_zero_from(op, 1)) return CAPS_ERR_BAD_OP;
  const Shape& x = in[0];
  if (x.rank != 3 || in[1].rank != 2 || in[1].dims[0] != 17 * B || in[1].dims[1] != x.dims[0] || in[2].rank != 1 ||
      in[2].dims[0] != 17 * B)
    return CAPS_ERR_SHAPE_MISMATCH;
  Shape out;
  out.rank = 3;
  out.dims[0] = x.dims[1];
  out.dims[1] = x.dims[2];
  out.dims[2] = static_cast<uint32_t>(17 * B);
  if (!fits_buffer(out.numel(), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  info->output = out;
  info->macs = mul_sat(out.numel(), x.dims[0]);
  return CAPS_OK;
}

#if CAPSRT_FLOAT
struct EmPrimaryRun {
  kernels::EmPrimaryCapsFn kernel;
  kernels::EmPrimaryCapsParams p;
};

void em_primary_run(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const EmPrimaryRun& r = op_params<EmPrimaryRun>(op);
  r.kernel(r.p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.out));
}

void em_primary_prepare(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                        PreparedOp& p) {
  const Shape& x = v.in_shape[0];
  set_op_params(p, EmPrimaryRun{ks.em_primary_caps_f32,
                                {static_cast<int>(x.dims[0]), static_cast<int>(x.dims[1]),
                                 static_cast<int>(x.dims[2]), static_cast<int>(v.op->params[CAPS_EM_PRIMARY_TYPES])}});
  p.run = em_primary_run;
}
#endif

// --- EmConvCaps ---------------------------------------------------------------------------------

caps_status em_conv_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&, bool quantized,
                          OpInfo* info) {
  if (quantized) return CAPS_ERR_UNSUPPORTED;
  const uint32_t K = op.params[CAPS_EM_CONV_KERNEL], s = op.params[CAPS_EM_CONV_STRIDE];
  if (K < 1 || K > kMaxEmKernel || s < 1 || s > kMaxStride || !routing_params_ok(op)) return CAPS_ERR_BAD_OP;
  const uint64_t B = capsule_types(in[0]);
  if (B == 0 || in[0].dims[0] < K || in[0].dims[1] < K) return CAPS_ERR_SHAPE_MISMATCH;
  const uint64_t I = uint64_t{K} * K * B, C = in[1].dims[1];
  if (C < 1 || C > kMaxCapsTypes || !transform_ok(in, I, C) || !routing_fits(I, C)) return CAPS_ERR_SHAPE_MISMATCH;
  Shape out;
  out.rank = 3;
  out.dims[0] = (in[0].dims[0] - K) / s + 1;
  out.dims[1] = (in[0].dims[1] - K) / s + 1;
  out.dims[2] = static_cast<uint32_t>(17 * C);
  if (!fits_buffer(out.numel(), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  info->output = out;
  info->macs = mul_sat(uint64_t{out.dims[0]} * out.dims[1], routing_macs(op, I, C));
  return CAPS_OK;
}

kernels::EmConvCapsParams em_conv_params(const OpView& v) {
  const Shape &x = v.in_shape[0], &y = v.out_shape;
  const caps_op_entry& op = *v.op;
  kernels::EmConvCapsParams p{};
  p.in_height = static_cast<int>(x.dims[0]);
  p.in_width = static_cast<int>(x.dims[1]);
  p.in_types = static_cast<int>(x.dims[2] / 17);
  p.out_height = static_cast<int>(y.dims[0]);
  p.out_width = static_cast<int>(y.dims[1]);
  p.out_types = static_cast<int>(y.dims[2] / 17);
  p.kernel = static_cast<int>(op.params[CAPS_EM_CONV_KERNEL]);
  p.stride = static_cast<int>(op.params[CAPS_EM_CONV_STRIDE]);
  p.routing = routing_params(op, v.in_shape[1].dims[0], v.in_shape[1].dims[1]);
  p.threads = v.threads;
  return p;
}

uint64_t em_conv_scratch(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks) {
  return ks.em_conv_caps_f32_scratch_size(em_conv_params(v));
}

#if CAPSRT_FLOAT
struct EmConvRun {
  kernels::EmConvCapsFn kernel;
  kernels::EmConvCapsParams p;
};

// Positions split across threads when the layer's routing is worth it (kParallelMinCapsMacs).
void em_conv_run(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const EmConvRun& r = op_params<EmConvRun>(op);
  kernels::EmConvCapsParams p = r.p;
  p.parallel = kernels::worth_splitting(par, static_cast<int64_t>(op.macs), kernels::kParallelMinCapsMacs);
  r.kernel(p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.in[3]), f32(op.out), op.scratch);
}

void em_conv_prepare(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks, PreparedOp& p) {
  set_op_params(p, EmConvRun{ks.em_conv_caps_f32, em_conv_params(v)});
  p.run = em_conv_run;
}
#endif

// --- EmClassCaps --------------------------------------------------------------------------------

caps_status em_class_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&, bool quantized,
                           OpInfo* info) {
  if (quantized) return CAPS_ERR_UNSUPPORTED;
  if (op.params[CAPS_EM_CLASS_COORD_ADD] > CAPS_EM_COORD_ELEMENTS_3_7 || op.params[1] != 0 || !routing_params_ok(op))
    return CAPS_ERR_BAD_OP;
  const uint64_t D = capsule_types(in[0]);
  if (D == 0) return CAPS_ERR_SHAPE_MISMATCH;
  const uint64_t I = uint64_t{in[0].dims[0]} * in[0].dims[1] * D, E = in[1].dims[1];
  if (E < 1 || E > CAPS_MAX_CLASSES || !transform_ok(in, D, E) || !routing_fits(I, E))
    return CAPS_ERR_SHAPE_MISMATCH;
  info->output = make_shape(1, E);
  info->macs = routing_macs(op, I, E);
  return CAPS_OK;
}

kernels::EmClassCapsParams em_class_params(const OpView& v) {
  const Shape& x = v.in_shape[0];
  const caps_op_entry& op = *v.op;
  kernels::EmClassCapsParams p{};
  p.in_height = static_cast<int>(x.dims[0]);
  p.in_width = static_cast<int>(x.dims[1]);
  p.in_types = static_cast<int>(x.dims[2] / 17);
  p.classes = static_cast<int>(v.in_shape[1].dims[1]);
  p.coord_add = static_cast<caps_em_coord_add>(op.params[CAPS_EM_CLASS_COORD_ADD]);
  p.routing = routing_params(op, uint64_t{x.dims[0]} * x.dims[1] * p.in_types, static_cast<uint64_t>(p.classes));
  return p;
}

uint64_t em_class_scratch(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks) {
  return ks.em_class_caps_f32_scratch_size(em_class_params(v));
}

#if CAPSRT_FLOAT
struct EmClassRun {
  kernels::EmClassCapsFn kernel;
  kernels::EmClassCapsParams p;
};

void em_class_run(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const EmClassRun& r = op_params<EmClassRun>(op);
  r.kernel(r.p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.in[3]), f32(op.out), nullptr, op.scratch);
}

void em_class_prepare(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks, PreparedOp& p) {
  set_op_params(p, EmClassRun{ks.em_class_caps_f32, em_class_params(v)});
  p.run = em_class_run;
}
#endif

}  // namespace

// Float only: the int8 form's slots are listed so that an int8 file fails in infer with
// CAPS_ERR_UNSUPPORTED (no int8 EM kernels yet: docs/em-routing.md).
constexpr uint8_t I8 = CAPS_DTYPE_I8, I32 = CAPS_DTYPE_I32;
extern const OpRecord kEmPrimaryCaps = {
    CAPS_OP_EM_PRIMARY_CAPS, 5,
    {"EmPrimaryCaps", 3, 0b110, 3, {I8, I8, I32, 0}, I8},  // x, weights, bias
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
    em_primary_infer, nullptr, nullptr,
    {nullptr, CAPSRT_IF_FLOAT(em_primary_prepare)},
    {nullptr, nullptr},
};
extern const OpRecord kEmConvCaps = {
    CAPS_OP_EM_CONV_CAPS, 5,
    {"EmConvCaps", 4, 0b1110, 4, {I8, I8, I32, I32}, I8},  // x, weights, beta_u, beta_a
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
    em_conv_infer, nullptr, nullptr,
    {em_conv_scratch, CAPSRT_IF_FLOAT(em_conv_prepare)},
    {nullptr, nullptr},
};
extern const OpRecord kEmClassCaps = {
    CAPS_OP_EM_CLASS_CAPS, 5,
    {"EmClassCaps", 4, 0b1110, 4, {I8, I8, I32, I32}, I8},  // x, weights, beta_u, beta_a
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
    em_class_infer, nullptr, nullptr,
    {em_class_scratch, CAPSRT_IF_FLOAT(em_class_prepare)},
    {nullptr, nullptr},
};

}  // namespace ops
}  // namespace capsrt
