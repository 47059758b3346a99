// The op table: static checks (op_infer) and execution (op_run) of every op.
#include "op_run.hpp"

#include "reference.h"

#include <algorithm>

namespace capsrt {

uint64_t mul_sat(uint64_t a, uint64_t b) {
  uint64_t r;
  return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

bool fits_buffer(uint64_t count, uint64_t esize) {
  return mul_sat(count, esize) <= CAPS_MAX_BUFFER_BYTES;
}

uint64_t Shape::numel() const {
  if (rank == 0) return 0;
  uint64_t n = 1;
  for (uint32_t k = 0; k < rank; ++k) n = mul_sat(n, dims[k]);
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank != o.rank) return false;
  for (uint32_t k = 0; k < rank; ++k)
    if (dims[k] != o.dims[k]) return false;
  return true;
}

namespace {

// Inputs: bit k of const_mask marks a weight tensor. The int8 forms (docs/fixed-point.md) add a
// requantisation table (int32 [O,2]; CapsDense [J,3]) after the float inputs where they have one.
constexpr uint8_t I8 = CAPS_DTYPE_I8, I16 = CAPS_DTYPE_I16, I32 = CAPS_DTYPE_I32;
const OpDesc kOps[] = {
    {"Conv2D", 3, 0b110, 4, {I8, I8, I32, I32}, I8},       // x, weights, bias (, requant)
    {"PrimaryCaps", 3, 0b110, 4, {I8, I8, I32, I32}, I8},  // x, weights, bias (, requant)
    {"CapsDense", 2, 0b10, 3, {I8, I8, I32, 0}, I16},      // u, weights (, requant)
    {"Length", 1, 0b0, 1, {I16, 0, 0, 0}, I32},            // v
    {"Mask", 2, 0b00, 2, {I16, I32, 0, 0}, I8},            // v, scores
    {"Dense", 3, 0b110, 4, {I8, I8, I32, I32}, I8},        // x, weights, bias (, requant)
};

constexpr uint32_t kMaxStride = 64;
constexpr uint32_t kMaxPad = 64;
constexpr uint32_t kMaxCapsDim = 64;
// Products of int8 values in one int32 sum, with room for the bias: 2^31 / (128 x 127), rounded
// down to leave 2^24 for it (docs/fixed-point.md).
constexpr uint64_t kMaxQDotTerms = 131072;

uint64_t align_up(uint64_t n) { return (n + CAPS_ALIGN - 1) / CAPS_ALIGN * CAPS_ALIGN; }

bool params_zero_from(const caps_op_entry& op, int first) {
  for (int k = first; k < 8; ++k)
    if (op.params[k] != 0) return false;
  return true;
}

Shape make_shape(uint32_t rank, uint64_t d0, uint64_t d1 = 0, uint64_t d2 = 0) {
  Shape s;
  s.rank = rank;
  s.dims[0] = static_cast<uint32_t>(d0);
  s.dims[1] = static_cast<uint32_t>(d1);
  s.dims[2] = static_cast<uint32_t>(d2);
  return s;
}

// Shared by Conv2D and PrimaryCaps: checks x [C,H,W], w [O,C,KH,KW], b [O] and the geometry.
caps_status infer_conv(const caps_op_entry& op, const Shape* in, Shape* out) {
  const uint32_t sh = op.params[CAPS_CONV_STRIDE_H], sw = op.params[CAPS_CONV_STRIDE_W];
  const uint32_t ph = op.params[CAPS_CONV_PAD_H], pw = op.params[CAPS_CONV_PAD_W];
  if (sh < 1 || sw < 1 || sh > kMaxStride || sw > kMaxStride || ph > kMaxPad || pw > kMaxPad)
    return CAPS_ERR_BAD_OP;
  const Shape& x = in[0];
  const Shape& w = in[1];
  const Shape& b = in[2];
  if (x.rank != 3 || w.rank != 4 || b.rank != 1) return CAPS_ERR_SHAPE_MISMATCH;
  if (w.dims[1] != x.dims[0] || b.dims[0] != w.dims[0]) return CAPS_ERR_SHAPE_MISMATCH;
  const uint64_t kh = w.dims[2], kw = w.dims[3];
  if (ph >= kh || pw >= kw) return CAPS_ERR_BAD_OP;
  const uint64_t h = x.dims[1] + 2ull * ph, wd = x.dims[2] + 2ull * pw;
  if (h < kh || wd < kw) return CAPS_ERR_SHAPE_MISMATCH;
  // The kernels may copy the input zero-padded, and PrimaryCaps keeps the conv output in
  // scratch: both must fit the buffer bound like any tensor.
  if (!fits_buffer(mul_sat(mul_sat(x.dims[0], h), wd), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  *out = make_shape(3, w.dims[0], (h - kh) / sh + 1, (wd - kw) / sw + 1);
  if (!fits_buffer(out->numel(), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  return CAPS_OK;
}

uint64_t conv_macs(const Shape& x, const Shape& w, const Shape& y) {
  return y.numel() * x.dims[0] * w.dims[2] * w.dims[3];
}

constexpr uint32_t kMaxSquashFrac = 16;

// Scratch of the reference CapsDense (ref::caps_dense_f32): u_hat [J,I,DO], then logits [J,I],
// then coupling [J,I], each aligned. Computed in 64 bits here: the shapes are not yet checked.
uint64_t routing_scratch(uint64_t J, uint64_t I, uint64_t DO) {
  return align_up(J * I * DO * sizeof(float)) + 2 * align_up(J * I * sizeof(float));
}

// The int8 form's checks shared by Conv2D, PrimaryCaps and Dense: the requantisation table is
// [O,2], and a sum of K products of int8 values (|x| <= 128, |w| <= 127) fits an int32 with room
// for the bias (the validator checks the bias values against the same bound).
caps_status infer_q_dot(const Shape& requant, uint64_t out_channels, uint64_t k) {
  if (requant.rank != 2 || requant.dims[0] != out_channels || requant.dims[1] != 2)
    return CAPS_ERR_SHAPE_MISMATCH;
  if (k > kMaxQDotTerms) return CAPS_ERR_SHAPE_MISMATCH;
  return CAPS_OK;
}

// A squash eps in Q32 (two params, low word first) below 2^62 (fixed_point.h's bound).
bool eps_q32_ok(uint32_t hi) { return hi < (1u << 30); }

}  // namespace

const OpDesc* op_desc(uint32_t opcode) {
  if (opcode < CAPS_OP_CONV2D || opcode > CAPS_OP_DENSE) return nullptr;
  return &kOps[opcode - CAPS_OP_CONV2D];
}

bool op_input_is_const(const OpDesc& d, uint32_t slot) {
  return ((d.const_mask >> slot) & 1u) || (slot >= d.n_inputs && slot < d.n_inputs_q);
}

uint32_t dtype_size(uint32_t dtype) {
  switch (dtype) {
    case CAPS_DTYPE_F32: return 4;
    case CAPS_DTYPE_I8: return 1;
    case CAPS_DTYPE_I16: return 2;
    case CAPS_DTYPE_I32: return 4;
    default: return 0;
  }
}

uint64_t q_bias_bound(uint64_t k) { return k > kMaxQDotTerms ? 0 : 0x7FFFFFFFull - k * 128 * 127; }

caps_status op_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes& attrs,
                     OpInfo* info, bool quantized) {
  *info = OpInfo{};
  switch (op.opcode) {
    case CAPS_OP_CONV2D: {
      const uint32_t act = op.params[CAPS_CONV_ACTIVATION];
      if ((act != CAPS_ACT_NONE && act != CAPS_ACT_RELU) || !params_zero_from(op, 5))
        return CAPS_ERR_BAD_OP;
      const caps_status s = infer_conv(op, in, &info->output);
      if (s != CAPS_OK) return s;
      if (quantized) {
        const caps_status q = infer_q_dot(in[3], in[1].dims[0], in[1].numel() / in[1].dims[0]);
        if (q != CAPS_OK) return q;
      }
      info->macs = conv_macs(in[0], in[1], info->output);
      return CAPS_OK;
    }
    case CAPS_OP_PRIMARY_CAPS: {
      const uint32_t dim = op.params[CAPS_PRIMARY_CAPS_DIM];
      if (dim < 1 || dim > kMaxCapsDim) return CAPS_ERR_BAD_OP;
      if (!quantized && !params_zero_from(op, 5)) return CAPS_ERR_BAD_OP;
      if (quantized && (op.params[CAPS_PRIMARY_CAPS_Q_FRAC] > kMaxSquashFrac ||
                        !eps_q32_ok(op.params[CAPS_PRIMARY_CAPS_Q_EPS_HI])))
        return CAPS_ERR_BAD_OP;
      Shape conv;
      const caps_status s = infer_conv(op, in, &conv);
      if (s != CAPS_OK) return s;
      if (quantized) {
        const caps_status q = infer_q_dot(in[3], in[1].dims[0], in[1].numel() / in[1].dims[0]);
        if (q != CAPS_OK) return q;
      }
      switch (attrs.capsule_grouping) {
        case CAPS_GROUPING_NCHW_VIEW:
          if (conv.numel() % dim != 0) return CAPS_ERR_SHAPE_MISMATCH;
          break;
        case CAPS_GROUPING_NHWC_CHANNELS:
        case CAPS_GROUPING_PER_DIM_CONV:
          if (conv.dims[0] % dim != 0) return CAPS_ERR_SHAPE_MISMATCH;
          break;
        default: return CAPS_ERR_BAD_ATTRIBUTE;
      }
      info->output = make_shape(2, conv.numel() / dim, dim);
      info->scratch_bytes = align_up(conv.numel() * sizeof(float));
      info->macs = conv_macs(in[0], in[1], conv);
      return CAPS_OK;
    }
    case CAPS_OP_CAPS_DENSE: {
      // The float form's only param is the low-memory routing flag (format 1.2).
      if (!quantized && (op.params[CAPS_CAPS_DENSE_Q_FRAC] != 0 || op.params[CAPS_CAPS_DENSE_Q_EPS_LO] != 0 ||
                         op.params[CAPS_CAPS_DENSE_Q_EPS_HI] != 0 ||
                         op.params[CAPS_CAPS_DENSE_LOW_MEMORY] > 1 || !params_zero_from(op, 4)))
        return CAPS_ERR_BAD_OP;
      if (quantized && (op.params[CAPS_CAPS_DENSE_Q_FRAC] > kMaxSquashFrac ||
                        !eps_q32_ok(op.params[CAPS_CAPS_DENSE_Q_EPS_HI]) ||
                        op.params[CAPS_CAPS_DENSE_LOW_MEMORY] > 1 || !params_zero_from(op, 4)))
        return CAPS_ERR_BAD_OP;
      const Shape& u = in[0];
      const Shape& w = in[1];
      if (u.rank != 2 || w.rank != 4 || w.dims[1] != u.dims[0] || w.dims[3] != u.dims[1])
        return CAPS_ERR_SHAPE_MISMATCH;
      if (quantized && (in[2].rank != 2 || in[2].dims[0] != w.dims[0] || in[2].dims[1] != 3))
        return CAPS_ERR_SHAPE_MISMATCH;
      if (w.dims[2] > kMaxCapsDim) return CAPS_ERR_BAD_OP;  // poses fit a small stack buffer
      const uint64_t J = w.dims[0], I = w.dims[1], DO = w.dims[2];
      // The predictions u_hat [J,I,DO] and the logits [max(J,DI),I] live in scratch.
      if (!fits_buffer(mul_sat(mul_sat(J, I), DO), sizeof(float)) ||
          !fits_buffer(mul_sat(std::max<uint64_t>(J, w.dims[3]), I), sizeof(float)))
        return CAPS_ERR_SHAPE_MISMATCH;
      info->output = make_shape(2, J, DO);
      info->scratch_bytes = routing_scratch(J, I, DO);
      // prediction + per iteration the weighted sum + (all but last) the agreement
      const uint64_t r = attrs.routing_iterations;
      info->macs = w.numel() + J * I * DO * (2 * r - (r > 0 ? 1 : 0));
      return CAPS_OK;
    }
    case CAPS_OP_LENGTH:
      if (!params_zero_from(op, quantized ? 1 : 0)) return CAPS_ERR_BAD_OP;
      if (quantized && op.params[CAPS_LENGTH_Q_EPS] >= (1u << 30)) return CAPS_ERR_BAD_OP;
      if (in[0].rank != 2) return CAPS_ERR_SHAPE_MISMATCH;
      info->output = make_shape(1, in[0].dims[0]);
      info->macs = in[0].numel();
      return CAPS_OK;
    case CAPS_OP_MASK:
      if (!params_zero_from(op, 0)) return CAPS_ERR_BAD_OP;
      if (in[0].rank != 2 || in[1].rank != 1 || in[1].dims[0] != in[0].dims[0])
        return CAPS_ERR_SHAPE_MISMATCH;
      info->output = make_shape(1, in[0].numel());
      return CAPS_OK;
    case CAPS_OP_DENSE: {
      const uint32_t act = op.params[CAPS_DENSE_ACTIVATION];
      if (act > CAPS_ACT_SIGMOID || !params_zero_from(op, 1)) return CAPS_ERR_BAD_OP;
      const Shape& w = in[1];
      if (w.rank != 2 || in[2].rank != 1 || w.dims[1] != in[0].numel() ||
          in[2].dims[0] != w.dims[0])
        return CAPS_ERR_SHAPE_MISMATCH;
      if (quantized) {
        const caps_status q = infer_q_dot(in[3], w.dims[0], w.dims[1]);
        if (q != CAPS_OK) return q;
      }
      info->output = make_shape(1, w.dims[0]);
      info->macs = w.numel();
      return CAPS_OK;
    }
    default: return CAPS_ERR_BAD_OP;
  }
}

#if CAPSRT_FLOAT
uint32_t first_max_index(const float* scores, uint32_t count) {
  uint32_t best = 0;
  for (uint32_t j = 1; j < count; ++j)
    if (scores[j] > scores[best]) best = j;
  return best;
}
#endif

uint32_t first_max_index(const int32_t* scores, uint32_t count) {
  uint32_t best = 0;
  for (uint32_t j = 1; j < count; ++j)
    if (scores[j] > scores[best]) best = j;
  return best;
}

namespace {

// The kernels take sizes as int. Every dim, and every element count of a tensor or of an
// intermediate buffer, is below 2^31 (CAPS_MAX_BUFFER_BYTES, checked by Model::validate and
// op_infer), so these narrowing casts are exact on every target.
kernels::Conv2DParams conv_params(const OpView& v, const Shape& out, caps_activation act) {
  const Shape& xs = v.in_shape[0];
  const Shape& ws = v.in_shape[1];
  const caps_op_entry& op = *v.op;
  kernels::Conv2DParams p;
  p.in_channels = static_cast<int>(xs.dims[0]);
  p.in_height = static_cast<int>(xs.dims[1]);
  p.in_width = static_cast<int>(xs.dims[2]);
  p.out_channels = static_cast<int>(out.dims[0]);
  p.out_height = static_cast<int>(out.dims[1]);
  p.out_width = static_cast<int>(out.dims[2]);
  p.kernel_h = static_cast<int>(ws.dims[2]);
  p.kernel_w = static_cast<int>(ws.dims[3]);
  p.stride_h = static_cast<int>(op.params[CAPS_CONV_STRIDE_H]);
  p.stride_w = static_cast<int>(op.params[CAPS_CONV_STRIDE_W]);
  p.pad_h = static_cast<int>(op.params[CAPS_CONV_PAD_H]);
  p.pad_w = static_cast<int>(op.params[CAPS_CONV_PAD_W]);
  p.activation = act;
  p.weight_layout = v.in_layout[1];
  return p;
}

Shape primary_conv_shape(const OpView& v) {
  Shape conv;
  infer_conv(*v.op, v.in_shape, &conv);  // validated at load: cannot fail here
  return conv;
}

kernels::SquashParams squash_params(const caps_model_attributes& attrs) {
  return {static_cast<caps_squash_eps_mode>(attrs.squash_eps_mode), attrs.squash_eps};
}

kernels::CapsDenseParams caps_params(const OpView& v, const caps_model_attributes& attrs) {
  const Shape& ws = v.in_shape[1];
  const int J = static_cast<int>(ws.dims[0]), I = static_cast<int>(ws.dims[1]);
  const int DO = static_cast<int>(ws.dims[2]), DI = static_cast<int>(ws.dims[3]);
  kernels::CapsDenseParams p;
  p.predict = kernels::CapsPredictParams{I, DI, J, DO, v.in_layout[1]};
  p.routing = kernels::RoutingParams{I, J, DO, static_cast<int>(attrs.routing_iterations),
                                     static_cast<caps_softmax_axis>(attrs.routing_softmax_axis),
                                     squash_params(attrs)};
  p.low_memory = v.op->params[CAPS_CAPS_DENSE_LOW_MEMORY] != 0;
  return p;
}

// The set whose CapsDense runs the op: one that reads its W layout, and the reference for the
// low-memory routing (which only the reference kernel does).
const kernels::KernelSet& caps_set(const kernels::KernelSet& ks, const kernels::CapsDenseParams& p) {
  return p.low_memory ? *kernels::kernel_set(CAPS_KERNELS_REFERENCE)
                      : kernels::caps_kernels(ks, p.predict.weight_layout);
}

#if CAPSRT_FLOAT  // the float path (an int8-only build has none: CMakeLists.txt)
const float* f32(const void* p) { return static_cast<const float*>(p); }
float* f32(void* p) { return static_cast<float*>(p); }

// The runners: one table lookup and a call (or three, for PrimaryCaps).
void run_conv2d(const PreparedOp& op, int32_t) {
  op.conv_ks->conv2d_f32(op.p.conv.conv, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.out),
                         op.scratch);
}

void run_primary_caps(const PreparedOp& op, int32_t) {
  // The conv output goes to scratch, then is grouped into capsules and squashed.
  float* conv_out = f32(op.scratch);
  op.conv_ks->conv2d_f32(op.p.conv.conv, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), conv_out,
                         op.conv_scratch);
  op.ks->group_capsules_f32(op.p.conv.group, conv_out, f32(op.out));
  op.ks->squash_f32(op.p.conv.squash, f32(op.out), f32(op.out), op.count, op.dim);
}

void run_caps_dense(const PreparedOp& op, int32_t) {
  op.caps_ks->caps_dense_f32(op.p.caps, f32(op.in[0]), f32(op.in[1]), f32(op.out), op.scratch);
}

void run_length(const PreparedOp& op, int32_t) {
  op.ks->vector_length_f32(f32(op.in[0]), f32(op.out), op.count, op.dim, op.length_eps);
  if (op.softmax_scores) op.ks->softmax_f32(f32(op.out), f32(op.out), op.count, 1);
}

void run_mask(const PreparedOp& op, int32_t mask_class) {
  const int keep = mask_class >= 0 ? mask_class
                                   : static_cast<int>(first_max_index(
                                         f32(op.in[1]), static_cast<uint32_t>(op.count)));
  op.ks->mask_f32(f32(op.in[0]), f32(op.out), op.count, op.dim, keep);
}

void run_dense(const PreparedOp& op, int32_t) {
  op.ks->dense_f32(op.p.dense, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.out));
}

#endif  // CAPSRT_FLOAT

// --- the int8 forms (docs/fixed-point.md) ---------------------------------------------------

const int8_t* i8(const void* p) { return static_cast<const int8_t*>(p); }
const int32_t* i32(const void* p) { return static_cast<const int32_t*>(p); }

kernels::Conv2DQParams conv_q_params(const OpView& v, const Shape& out, bool relu, int out_bytes) {
  kernels::Conv2DQParams p;
  p.geom = conv_params(v, out, CAPS_ACT_NONE);
  p.pad_value = v.in_zero_point;
  p.input_nonneg = v.in_nonneg;
  p.out_bytes = out_bytes;
  p.out_max = out_bytes == 2 ? 32767 : 127;
  p.out_min = relu ? 0 : -p.out_max;
  return p;
}

fx::SquashQ squash_q(const caps_model_attributes& attrs, uint32_t in_frac, int out_frac,
                     uint32_t eps_lo, uint32_t eps_hi) {
  fx::SquashQ q;
  q.in_frac = static_cast<int32_t>(in_frac);
  q.out_frac = out_frac;
  q.eps_in_sqrt = attrs.squash_eps_mode == CAPS_SQUASH_EPS_IN_SQRT ? 1 : 0;
  q.eps_q32 = (uint64_t{eps_hi} << 32) | eps_lo;
  return q;
}

kernels::CapsDenseQParams caps_q_params(const OpView& v, const caps_model_attributes& attrs) {
  const Shape& ws = v.in_shape[1];
  const caps_op_entry& op = *v.op;
  kernels::CapsDenseQParams p;
  p.predict = kernels::CapsPredictParams{static_cast<int>(ws.dims[1]), static_cast<int>(ws.dims[3]),
                                         static_cast<int>(ws.dims[0]), static_cast<int>(ws.dims[2]),
                                         v.in_layout[1]};
  p.iterations = static_cast<int>(attrs.routing_iterations);
  p.softmax_axis = static_cast<caps_softmax_axis>(attrs.routing_softmax_axis);
  p.squash = squash_q(attrs, op.params[CAPS_CAPS_DENSE_Q_FRAC], 15,
                      op.params[CAPS_CAPS_DENSE_Q_EPS_LO], op.params[CAPS_CAPS_DENSE_Q_EPS_HI]);
  p.low_memory = op.params[CAPS_CAPS_DENSE_LOW_MEMORY] != 0;
  return p;
}

void run_conv2d_q(const PreparedOp& op, int32_t) {
  op.ks->conv2d_q(op.p.conv_q.conv, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]), op.out,
                  op.scratch);
}

void run_primary_caps_q(const PreparedOp& op, int32_t) {
  // The conv output (int16, Q F) goes to scratch, then is grouped into capsules and squashed.
  op.ks->conv2d_q(op.p.conv_q.conv, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]),
                  op.scratch, op.conv_scratch);
  op.ks->primary_squash_q(op.p.conv_q.primary, static_cast<const int16_t*>(op.scratch),
                          static_cast<int8_t*>(op.out));
}

void run_caps_dense_q(const PreparedOp& op, int32_t) {
  op.ks->caps_dense_q(op.p.caps_q, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]),
                      static_cast<int16_t*>(op.out), op.scratch);
}

void run_length_q(const PreparedOp& op, int32_t) {
  op.ks->length_q(static_cast<const int16_t*>(op.in[0]), static_cast<int32_t*>(op.out), op.count,
                  op.dim, op.length_eps_q30, op.softmax_scores);
}

void run_mask_q(const PreparedOp& op, int32_t mask_class) {
  const int keep = mask_class >= 0 ? mask_class
                                   : static_cast<int>(first_max_index(
                                         i32(op.in[1]), static_cast<uint32_t>(op.count)));
  op.ks->mask_q(static_cast<const int16_t*>(op.in[0]), static_cast<int8_t*>(op.out), op.count,
                op.dim, keep);
}

void run_dense_q(const PreparedOp& op, int32_t) {
  op.ks->dense_q(op.p.dense_q, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]),
                 static_cast<int8_t*>(op.out));
}

// Scratch and preparation of the int8 forms.
__attribute__((noinline)) uint64_t op_scratch_bytes_q(const OpView& v, const caps_model_attributes& attrs,
                            const kernels::KernelSet& ks) {
  switch (v.op->opcode) {
    case CAPS_OP_CONV2D:
      return ks.conv2d_q_scratch_size(conv_q_params(v, v.out_shape, false, 1));
    case CAPS_OP_PRIMARY_CAPS: {
      const Shape conv = primary_conv_shape(v);
      return align_up(conv.numel() * sizeof(int16_t)) +
             align_up(ks.conv2d_q_scratch_size(conv_q_params(v, conv, false, 2)));
    }
    case CAPS_OP_CAPS_DENSE: return ks.caps_dense_q_scratch_size(caps_q_params(v, attrs));
    default: return 0;
  }
}

void op_prepare_q(const OpView& v, const caps_model_attributes& attrs, PreparedOp& p) {
  const caps_op_entry& op = *v.op;
  switch (op.opcode) {
    case CAPS_OP_CONV2D:
      p.run = run_conv2d_q;
      p.p.conv_q.conv = conv_q_params(v, v.out_shape, op.params[CAPS_CONV_ACTIVATION] == CAPS_ACT_RELU, 1);
      break;
    case CAPS_OP_PRIMARY_CAPS: {
      const Shape conv = primary_conv_shape(v);
      p.run = run_primary_caps_q;
      p.p.conv_q.conv = conv_q_params(v, conv, false, 2);
      p.conv_scratch = static_cast<uint8_t*>(p.scratch) + align_up(conv.numel() * sizeof(int16_t));
      const int dim = static_cast<int>(op.params[CAPS_PRIMARY_CAPS_DIM]);
      p.p.conv_q.primary.group = kernels::GroupingParams{
          static_cast<caps_grouping>(attrs.capsule_grouping), static_cast<int>(conv.dims[0]),
          static_cast<int>(conv.dims[1]), static_cast<int>(conv.dims[2]), dim};
      p.p.conv_q.primary.squash =
          squash_q(attrs, op.params[CAPS_PRIMARY_CAPS_Q_FRAC], 7, op.params[CAPS_PRIMARY_CAPS_Q_EPS_LO],
                   op.params[CAPS_PRIMARY_CAPS_Q_EPS_HI]);
      p.p.conv_q.primary.count = static_cast<int>(v.out_shape.dims[0]);
      break;
    }
    case CAPS_OP_CAPS_DENSE:
      p.run = run_caps_dense_q;
      p.p.caps_q = caps_q_params(v, attrs);
      break;
    case CAPS_OP_LENGTH:
      p.run = run_length_q;
      p.count = static_cast<int>(v.in_shape[0].dims[0]);
      p.dim = static_cast<int>(v.in_shape[0].dims[1]);
      p.length_eps_q30 = op.params[CAPS_LENGTH_Q_EPS];
      p.softmax_scores = attrs.score_kind == CAPS_SCORE_SOFTMAX_LENGTH;
      break;
    case CAPS_OP_MASK:
      p.run = run_mask_q;
      p.count = static_cast<int>(v.in_shape[0].dims[0]);
      p.dim = static_cast<int>(v.in_shape[0].dims[1]);
      break;
    case CAPS_OP_DENSE: {
      const uint32_t act = op.params[CAPS_DENSE_ACTIVATION];
      p.run = run_dense_q;
      p.p.dense_q = kernels::DenseQParams{static_cast<int>(v.in_shape[1].dims[1]),
                                          static_cast<int>(v.in_shape[1].dims[0]),
                                          act == CAPS_ACT_RELU ? 0 : -127, 127,
                                          act == CAPS_ACT_SIGMOID};
      break;
    }
    default: break;  // unreachable: the model was validated
  }
}

}  // namespace

namespace {
// The float forms' scratch; its own frame, as the int8 forms' (op_scratch_bytes_q): the stack of
// Model::load holds one of the two, not both.
__attribute__((noinline)) uint64_t op_scratch_bytes_f(const OpView& v, const caps_model_attributes& attrs,
                                                      const kernels::KernelSet& ks) {
  switch (v.op->opcode) {
    case CAPS_OP_CONV2D: {
      const kernels::Conv2DParams p = conv_params(v, v.out_shape, CAPS_ACT_NONE);
      return kernels::conv_kernels(ks, p.weight_layout).conv2d_f32_scratch_size(p);
    }
    case CAPS_OP_PRIMARY_CAPS: {
      const Shape conv = primary_conv_shape(v);
      const kernels::Conv2DParams p = conv_params(v, conv, CAPS_ACT_NONE);
      return align_up(conv.numel() * sizeof(float)) +
             align_up(kernels::conv_kernels(ks, p.weight_layout).conv2d_f32_scratch_size(p));
    }
    case CAPS_OP_CAPS_DENSE: {
      const kernels::CapsDenseParams p = caps_params(v, attrs);
      return caps_set(ks, p).caps_dense_f32_scratch_size(p);
    }
    default: return 0;
  }
}
}  // namespace

uint64_t op_scratch_bytes(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks) {
  return v.quantized ? op_scratch_bytes_q(v, attrs, ks) : op_scratch_bytes_f(v, attrs, ks);
}

uint64_t op_scratch_for(const caps_op_entry& op, const Shape* inputs, const uint8_t* layouts,
                        const Shape& output, const caps_model_attributes& attrs, uint32_t kernels,
                        bool quantized) {
  const kernels::KernelSet* ks = kernels::kernel_set(kernels);
  if (ks == nullptr) return 0;
  OpView v;
  v.op = &op;
  v.quantized = quantized;
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
    v.in_shape[s] = s < op.n_inputs ? inputs[s] : Shape{};
    v.in_layout[s] = s < op.n_inputs ? static_cast<caps_layout>(layouts[s]) : CAPS_LAYOUT_ROW_MAJOR;
  }
  v.out_shape = output;
  return op_scratch_bytes(v, attrs, *ks);
}

void op_prepare(const OpView& v, const caps_model_attributes& attrs, const kernels::KernelSet& ks,
                const void* const* in, void* out_tensor, void* scratch, PreparedOp* out) {
  *out = PreparedOp{};
  PreparedOp& p = *out;
  p.ks = p.conv_ks = p.caps_ks = &ks;
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) p.in[s] = in[s];
  p.out = out_tensor;
  p.scratch = scratch;
  if (v.quantized) {
    op_prepare_q(v, attrs, p);
    return;
  }
#if CAPSRT_FLOAT
  const caps_op_entry& op = *v.op;
  switch (op.opcode) {
    case CAPS_OP_CONV2D:
      p.run = run_conv2d;
      p.p.conv.conv = conv_params(v, v.out_shape,
                           static_cast<caps_activation>(op.params[CAPS_CONV_ACTIVATION]));
      p.conv_ks = &kernels::conv_kernels(ks, p.p.conv.conv.weight_layout);
      break;
    case CAPS_OP_PRIMARY_CAPS: {
      const Shape conv = primary_conv_shape(v);
      p.run = run_primary_caps;
      p.p.conv.conv = conv_params(v, conv, CAPS_ACT_NONE);
      p.conv_ks = &kernels::conv_kernels(ks, p.p.conv.conv.weight_layout);
      p.conv_scratch = static_cast<uint8_t*>(scratch) + align_up(conv.numel() * sizeof(float));
      p.dim = static_cast<int>(op.params[CAPS_PRIMARY_CAPS_DIM]);
      p.count = static_cast<int>(v.out_shape.dims[0]);
      p.p.conv.group = kernels::GroupingParams{static_cast<caps_grouping>(attrs.capsule_grouping),
                                        static_cast<int>(conv.dims[0]),
                                        static_cast<int>(conv.dims[1]),
                                        static_cast<int>(conv.dims[2]), p.dim};
      p.p.conv.squash = squash_params(attrs);
      break;
    }
    case CAPS_OP_CAPS_DENSE:
      p.run = run_caps_dense;
      p.p.caps = caps_params(v, attrs);
      p.caps_ks = &caps_set(ks, p.p.caps);
      break;
    case CAPS_OP_LENGTH:
      p.run = run_length;
      p.count = static_cast<int>(v.in_shape[0].dims[0]);
      p.dim = static_cast<int>(v.in_shape[0].dims[1]);
      p.length_eps = attrs.length_eps;
      p.softmax_scores = attrs.score_kind == CAPS_SCORE_SOFTMAX_LENGTH;
      break;
    case CAPS_OP_MASK:
      p.run = run_mask;
      p.count = static_cast<int>(v.in_shape[0].dims[0]);
      p.dim = static_cast<int>(v.in_shape[0].dims[1]);
      break;
    case CAPS_OP_DENSE:
      p.run = run_dense;
      p.p.dense = kernels::DenseParams{static_cast<int>(v.in_shape[1].dims[1]),
                                     static_cast<int>(v.in_shape[1].dims[0]),
                                     static_cast<caps_activation>(op.params[CAPS_DENSE_ACTIVATION])};
      break;
    default: break;  // unreachable: the model was validated
  }
#endif  // CAPSRT_FLOAT
}

}  // namespace capsrt
