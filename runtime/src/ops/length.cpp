// Length: v [J,D] -> scores [J]: each capsule's length sqrt(|v_j|^2 + eps) (the model's
// length_eps), or their softmax (score_kind). Int8 form: v int16 Q15 -> scores int32 Q15
// (param: eps in Q30).
#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status length_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&,
                         bool quantized, OpInfo* info) {
  if (!params_zero_from(op, quantized ? 1 : 0)) return CAPS_ERR_BAD_OP;
  if (quantized && op.params[CAPS_LENGTH_Q_EPS] >= (1u << 30)) return CAPS_ERR_BAD_OP;
  if (in[0].rank != 2) return CAPS_ERR_SHAPE_MISMATCH;
  info->output = make_shape(1, in[0].dims[0]);
  info->macs = in[0].numel();
  return CAPS_OK;
}

#if CAPSRT_FLOAT
struct LengthRun {
  kernels::LengthFn length;
  kernels::SoftmaxFn softmax;  // NULL: the lengths are the scores
  float eps;
  int count, dim;
};

void length_run_f(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const LengthRun& r = op_params<LengthRun>(op);
  r.length(f32(op.in[0]), f32(op.out), r.count, r.dim, r.eps);
  if (r.softmax != nullptr) r.softmax(f32(op.out), f32(op.out), r.count, 1);
}

void length_prepare_f(const OpView& v, const caps_model_attributes& attrs,
                      const kernels::KernelSet& ks, PreparedOp& p) {
  const bool softmax = attrs.score_kind == CAPS_SCORE_SOFTMAX_LENGTH;
  set_op_params(p, LengthRun{ks.vector_length_f32, softmax ? ks.softmax_f32 : nullptr,
                             attrs.length_eps, static_cast<int>(v.in_shape[0].dims[0]),
                             static_cast<int>(v.in_shape[0].dims[1])});
  p.run = length_run_f;
}
#endif

struct LengthQRun {
  kernels::LengthQFn length;
  uint32_t eps_q30;
  int count, dim;
  bool softmax;
};

void length_run_q(const PreparedOp& op, int32_t, const kernels::Parallel*) {
  const LengthQRun& r = op_params<LengthQRun>(op);
  r.length(i16(op.in[0]), i32(op.out), r.count, r.dim, r.eps_q30, r.softmax);
}

void length_prepare_q(const OpView& v, const caps_model_attributes& attrs,
                      const kernels::KernelSet& ks, PreparedOp& p) {
  set_op_params(p, LengthQRun{ks.length_q, v.op->params[CAPS_LENGTH_Q_EPS],
                              static_cast<int>(v.in_shape[0].dims[0]),
                              static_cast<int>(v.in_shape[0].dims[1]),
                              attrs.score_kind == CAPS_SCORE_SOFTMAX_LENGTH});
  p.run = length_run_q;
}

}  // namespace

constexpr uint8_t I16 = CAPS_DTYPE_I16, I32 = CAPS_DTYPE_I32;
extern const OpRecord kLength = {
    CAPS_OP_LENGTH, 0,
    {"Length", 1, 0b0, 1, {I16, 0, 0, 0}, I32},  // v
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
    length_infer, nullptr, nullptr,
    {nullptr, CAPSRT_IF_FLOAT(length_prepare_f)},
    {nullptr, length_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
