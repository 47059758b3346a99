// Conv2D: x [C,H,W], w [O,C,KH,KW], b [O] -> y [O,OH,OW], optional ReLU (params: stride h/w,
// pad h/w, activation). Int8 form: x int8, w int8 K4O, b int32, requant int32 [O,2] -> y int8.
#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status conv2d_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&,
                         bool quantized, OpInfo* info) {
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

bool conv2d_output_nonneg_q(const caps_op_entry& op) {
  return op.params[CAPS_CONV_ACTIVATION] == CAPS_ACT_RELU;
}

// --- float ------------------------------------------------------------------------------------

struct Conv2DRun {
  kernels::Conv2DFn conv;
  kernels::Conv2DParams p;
};

kernels::Conv2DParams conv2d_f_params(const OpView& v) {
  return conv_params(v, v.out_shape, static_cast<caps_activation>(v.op->params[CAPS_CONV_ACTIVATION]));
}

uint64_t conv2d_scratch_f(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks) {
  const kernels::Conv2DParams p = conv2d_f_params(v);
  return kernels::conv_kernels(ks, p.weight_layout).conv2d_f32_scratch_size(p);
}

#if CAPSRT_FLOAT
void conv2d_run_f(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const Conv2DRun& r = op_params<Conv2DRun>(op);
  kernels::Conv2DParams p = r.p;
  p.parallel = par;
  r.conv(p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.out), op.scratch);
}

void conv2d_prepare_f(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                      PreparedOp& p) {
  const kernels::Conv2DParams params = conv2d_f_params(v);
  set_op_params(p, Conv2DRun{kernels::conv_kernels(ks, params.weight_layout).conv2d_f32, params});
  p.run = conv2d_run_f;
}
#endif

// --- int8 -------------------------------------------------------------------------------------

struct Conv2DQRun {
  kernels::Conv2DQFn conv;
  kernels::Conv2DQParams p;
};

kernels::Conv2DQParams conv2d_q_params(const OpView& v) {
  return conv_q_params(v, v.out_shape, conv2d_output_nonneg_q(*v.op), 1);
}

uint64_t conv2d_scratch_q(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks) {
  return ks.conv2d_q_scratch_size(conv2d_q_params(v));
}

void conv2d_run_q(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const Conv2DQRun& r = op_params<Conv2DQRun>(op);
  kernels::Conv2DQParams p = r.p;
  p.geom.parallel = par;
  r.conv(p, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]), op.out, op.scratch);
}

void conv2d_prepare_q(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                      PreparedOp& p) {
  set_op_params(p, Conv2DQRun{ks.conv2d_q, conv2d_q_params(v)});
  p.run = conv2d_run_q;
}

}  // namespace

constexpr uint8_t I8 = CAPS_DTYPE_I8, I32 = CAPS_DTYPE_I32;
extern const OpRecord kConv2D = {
    CAPS_OP_CONV2D, 0,
    {"Conv2D", 3, 0b110, 4, {I8, I8, I32, I32}, I8},  // x, weights, bias (, requant)
    CAPS_LAYOUT_CONV_IHWO, CAPS_LAYOUT_K4O,
    conv2d_infer, check_q_dot_constants, conv2d_output_nonneg_q,
    {conv2d_scratch_f, CAPSRT_IF_FLOAT(conv2d_prepare_f)},
    {conv2d_scratch_q, conv2d_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
