// Dense: x (any rank, K values), w [N,K], b [N] -> y [N], then the activation (param: none,
// ReLU or sigmoid). Int8 form: x int8, w int8 K4O, b int32, requant int32 [N,2] -> y int8 (with
// sigmoid: round(255 sigmoid) - 128, the reconstruction's pixel - 128).
#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status dense_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&,
                        bool quantized, OpInfo* info) {
  const uint32_t act = op.params[CAPS_DENSE_ACTIVATION];
  if (act > CAPS_ACT_SIGMOID || !params_zero_from(op, 1)) return CAPS_ERR_BAD_OP;
  const Shape& w = in[1];
  if (w.rank != 2 || in[2].rank != 1 || w.dims[1] != in[0].numel() || in[2].dims[0] != w.dims[0])
    return CAPS_ERR_SHAPE_MISMATCH;
  if (quantized) {
    const caps_status q = infer_q_dot(in[3], w.dims[0], w.dims[1]);
    if (q != CAPS_OK) return q;
  }
  info->output = make_shape(1, w.dims[0]);
  info->macs = w.numel();
  return CAPS_OK;
}

bool dense_output_nonneg_q(const caps_op_entry& op) {
  return op.params[CAPS_DENSE_ACTIVATION] == CAPS_ACT_RELU;
}

#if CAPSRT_FLOAT
struct DenseRun {
  kernels::DenseFn dense;
  kernels::DenseParams p;
};

void dense_run_f(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const DenseRun& r = op_params<DenseRun>(op);
  r.dense(r.p, f32(op.in[0]), f32(op.in[1]), f32(op.in[2]), f32(op.out));
}

void dense_prepare_f(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                     PreparedOp& p) {
  set_op_params(p, DenseRun{ks.dense_f32,
                            kernels::DenseParams{static_cast<int>(v.in_shape[1].dims[1]),
                                                 static_cast<int>(v.in_shape[1].dims[0]),
                                                 static_cast<caps_activation>(
                                                     v.op->params[CAPS_DENSE_ACTIVATION])}});
  p.run = dense_run_f;
}
#endif

struct DenseQRun {
  kernels::DenseQFn dense;
  kernels::DenseQParams p;
};

void dense_run_q(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const DenseQRun& r = op_params<DenseQRun>(op);
  r.dense(r.p, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i32(op.in[3]), i8(op.out));
}

void dense_prepare_q(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                     PreparedOp& p) {
  const uint32_t act = v.op->params[CAPS_DENSE_ACTIVATION];
  set_op_params(p, DenseQRun{ks.dense_q,
                             kernels::DenseQParams{static_cast<int>(v.in_shape[1].dims[1]),
                                                   static_cast<int>(v.in_shape[1].dims[0]),
                                                   act == CAPS_ACT_RELU ? 0 : -127, 127,
                                                   act == CAPS_ACT_SIGMOID}});
  p.run = dense_run_q;
}

}  // namespace

constexpr uint8_t I8 = CAPS_DTYPE_I8, I32 = CAPS_DTYPE_I32;
extern const OpRecord kDense = {
    CAPS_OP_DENSE, 0,
    {"Dense", 3, 0b110, 4, {I8, I8, I32, I32}, I8},  // x, weights, bias (, requant)
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_K4O,
    dense_infer, check_q_dot_constants, dense_output_nonneg_q,
    {nullptr, CAPSRT_IF_FLOAT(dense_prepare_f)},
    {nullptr, dense_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
