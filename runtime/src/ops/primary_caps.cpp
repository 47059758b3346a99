// PrimaryCaps: a convolution as Conv2D's (no activation), its output grouped into capsules of
// `dim` components by the model's capsule_grouping, then squashed: -> [N, dim] (params: stride
// h/w, pad h/w, dim; int8: the conv output's Q format and the squash eps in Q32).
#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status primary_caps_infer(const caps_op_entry& op, const Shape* in,
                               const caps_model_attributes& attrs, bool quantized, OpInfo* info) {
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
  info->macs = conv_macs(in[0], in[1], conv);
  return CAPS_OK;
}

kernels::GroupingParams grouping(const OpView& v, const caps_model_attributes& attrs,
                                 const Shape& conv) {
  return kernels::GroupingParams{static_cast<caps_grouping>(attrs.capsule_grouping),
                                 static_cast<int>(conv.dims[0]), static_cast<int>(conv.dims[1]),
                                 static_cast<int>(conv.dims[2]),
                                 static_cast<int>(v.op->params[CAPS_PRIMARY_CAPS_DIM])};
}

// Scratch: the conv output, then the conv kernel's own scratch.
uint64_t conv_out_bytes(const Shape& conv, uint64_t elem) {
  return kernels::align_up(conv.numel() * elem);
}

// --- float ------------------------------------------------------------------------------------

struct PrimaryCapsRun {
  kernels::Conv2DFn conv;
  kernels::GroupFn group;
  kernels::SquashFn squash;
  kernels::Conv2DParams conv_p;
  kernels::GroupingParams group_p;
  kernels::SquashParams squash_p;
  uint32_t conv_scratch_offset;  // the conv kernel's scratch, after the conv output
  int count, dim;
  bool in_place;  // NCHW_VIEW grouping: the conv output is already the capsules' layout
};

uint64_t primary_caps_scratch_f(const OpView& v, const caps_model_attributes&,
                                const kernels::KernelSet& ks) {
  const Shape conv = conv_output_shape(*v.op, v.in_shape[0], v.in_shape[1]);
  const kernels::Conv2DParams p = conv_params(v, conv, CAPS_ACT_NONE);
  return conv_out_bytes(conv, sizeof(float)) +
         kernels::align_up(kernels::conv_kernels(ks, p.weight_layout).conv2d_f32_scratch_size(p));
}

#if CAPSRT_FLOAT
void primary_caps_run_f(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const PrimaryCapsRun& r = op_params<PrimaryCapsRun>(op);
  // With the NCHW_VIEW grouping (PyTorch's view(-1, dim)) capsule i is the conv output's
  // elements dim i .. dim i + dim - 1: the conv writes the output itself and there is no copy.
  float* conv_out = r.in_place ? f32(op.out) : f32(op.scratch);
  kernels::Conv2DParams conv_p = r.conv_p;
  conv_p.parallel = par;
  r.conv(conv_p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), conv_out,
         static_cast<uint8_t*>(op.scratch) + r.conv_scratch_offset);
  if (!r.in_place) r.group(r.group_p, conv_out, f32(op.out));
  r.squash(r.squash_p, f32(op.out), f32(op.out), r.count, r.dim);
}

void primary_caps_prepare_f(const OpView& v, const caps_model_attributes& attrs,
                            const kernels::KernelSet& ks, PreparedOp& p) {
  const Shape conv = conv_output_shape(*v.op, v.in_shape[0], v.in_shape[1]);
  PrimaryCapsRun& r = set_op_params(p, PrimaryCapsRun{});  // filled in place: init's stack
  r.conv_p = conv_params(v, conv, CAPS_ACT_NONE);
  r.conv = kernels::conv_kernels(ks, r.conv_p.weight_layout).conv2d_f32;
  r.group = ks.group_capsules_f32;
  r.squash = ks.squash_f32;
  r.group_p = grouping(v, attrs, conv);
  r.squash_p = squash_params(attrs);
  r.conv_scratch_offset = static_cast<uint32_t>(conv_out_bytes(conv, sizeof(float)));
  r.count = static_cast<int>(v.out_shape.dims[0]);
  r.dim = r.group_p.dim;
  r.in_place = r.group_p.mode == CAPS_GROUPING_NCHW_VIEW;
  p.run = primary_caps_run_f;
}
#endif

// --- int8 -------------------------------------------------------------------------------------

struct PrimaryCapsQRun {
  kernels::Conv2DQFn conv;
  kernels::PrimarySquashQFn squash;
  kernels::Conv2DQParams conv_p;
  kernels::PrimarySquashQParams squash_p;
  uint32_t conv_scratch_offset;
};

uint64_t primary_caps_scratch_q(const OpView& v, const caps_model_attributes&,
                                const kernels::KernelSet& ks) {
  const Shape conv = conv_output_shape(*v.op, v.in_shape[0], v.in_shape[1]);
  return conv_out_bytes(conv, sizeof(int16_t)) +
         kernels::align_up(ks.conv2d_q_scratch_size(conv_q_params(v, conv, false, 2)));
}

void primary_caps_run_q(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  // The conv output (int16, Q F) goes to scratch, then is grouped into capsules and squashed.
  const PrimaryCapsQRun& r = op_params<PrimaryCapsQRun>(op);
  kernels::Conv2DQParams conv_p = r.conv_p;
  conv_p.geom.parallel = par;
  r.conv(conv_p, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]), op.scratch,
         static_cast<uint8_t*>(op.scratch) + r.conv_scratch_offset);
  r.squash(r.squash_p, i16(op.scratch), i8(op.out));
}

void primary_caps_prepare_q(const OpView& v, const caps_model_attributes& attrs,
                            const kernels::KernelSet& ks, PreparedOp& p) {
  const Shape conv = conv_output_shape(*v.op, v.in_shape[0], v.in_shape[1]);
  const caps_op_entry& op = *v.op;
  PrimaryCapsQRun& r = set_op_params(p, PrimaryCapsQRun{});  // filled in place: init's stack
  r.conv = ks.conv2d_q;
  r.squash = ks.primary_squash_q;
  r.conv_p = conv_q_params(v, conv, false, 2);
  r.squash_p.group = grouping(v, attrs, conv);
  r.squash_p.squash = squash_q(attrs, op.params[CAPS_PRIMARY_CAPS_Q_FRAC], 7,
                               op.params[CAPS_PRIMARY_CAPS_Q_EPS_LO],
                               op.params[CAPS_PRIMARY_CAPS_Q_EPS_HI]);
  r.squash_p.count = static_cast<int>(v.out_shape.dims[0]);
  r.conv_scratch_offset = static_cast<uint32_t>(conv_out_bytes(conv, sizeof(int16_t)));
  p.run = primary_caps_run_q;
}

}  // namespace

constexpr uint8_t I8 = CAPS_DTYPE_I8, I32 = CAPS_DTYPE_I32;
extern const OpRecord kPrimaryCaps = {
    CAPS_OP_PRIMARY_CAPS, 0,
    {"PrimaryCaps", 3, 0b110, 4, {I8, I8, I32, I32}, I8},  // x, weights, bias (, requant)
    CAPS_LAYOUT_CONV_IHWO, CAPS_LAYOUT_K4O,
    primary_caps_infer, check_q_dot_constants, nullptr,
    {primary_caps_scratch_f, CAPSRT_IF_FLOAT(primary_caps_prepare_f)},
    {primary_caps_scratch_q, primary_caps_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
