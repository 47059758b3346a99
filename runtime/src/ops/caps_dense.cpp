// CapsDense: u [I,DI], W [J,I,DO,DI] -> v [J,DO]: the predictions u_hat[j,i] = W[j,i] u[i], then
// dynamic routing by agreement (the model's routing_iterations, softmax axis and squash). Param:
// the low-memory routing flag (since 1.2); int8: the routing squash's Q format and eps in Q32.
// Int8 form: u int8 Q7, W int8, requant int32 [J,3] -> v int16 Q15.
#include <algorithm>
#include <cstring>

#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status caps_dense_infer(const caps_op_entry& op, const Shape* in,
                             const caps_model_attributes& attrs, bool quantized, OpInfo* info) {
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
  // prediction + per iteration the weighted sum + (all but last) the agreement
  const uint64_t r = attrs.routing_iterations;
  info->macs = w.numel() + J * I * DO * (2 * r - (r > 0 ? 1 : 0));
  return CAPS_OK;
}

// Predictions' F_u in [1, 30] besides the requantisation rows (multiplier, shift, F_u).
caps_status caps_dense_check_q_constants(const Model& m, const caps_op_entry& op) {
  caps_status st = check_q_weights(m, op);
  if (st != CAPS_OK || (st = check_q_requant(m, op, 2, 3)) != CAPS_OK) return st;
  const int32_t* rq = static_cast<const int32_t*>(m.const_data(op.inputs[2]));
  const uint32_t rows = m.tensor_shape(op.inputs[2]).dims[0];
  for (uint32_t r = 0; r < rows; ++r) {
    int32_t f_u;
    std::memcpy(&f_u, rq + r * 3 + 2, sizeof f_u);
    if (f_u < 1 || f_u > 30) return CAPS_ERR_BAD_TENSOR;
  }
  return CAPS_OK;
}

kernels::CapsPredictParams predict_params(const OpView& v) {
  const Shape& ws = v.in_shape[1];
  return kernels::CapsPredictParams{static_cast<int>(ws.dims[1]), static_cast<int>(ws.dims[3]),
                                    static_cast<int>(ws.dims[0]), static_cast<int>(ws.dims[2]),
                                    v.in_layout[1]};
}

// --- float ------------------------------------------------------------------------------------

struct CapsDenseRun {
  kernels::CapsDenseFn caps;
  kernels::CapsDenseParams p;
};

kernels::CapsDenseParams caps_f_params(const OpView& v, const caps_model_attributes& attrs) {
  kernels::CapsDenseParams p;
  p.predict = predict_params(v);
  p.routing = kernels::RoutingParams{p.predict.in_caps, p.predict.out_caps, p.predict.out_dim,
                                     static_cast<int>(attrs.routing_iterations),
                                     static_cast<caps_softmax_axis>(attrs.routing_softmax_axis),
                                     squash_params(attrs)};
  p.low_memory = v.op->params[CAPS_CAPS_DENSE_LOW_MEMORY] != 0;
  p.threads = v.threads;
  return p;
}

// The set whose CapsDense runs the op: one that reads its W layout, and the reference for the
// low-memory routing (which only the reference kernel does).
const kernels::KernelSet& caps_set(const kernels::KernelSet& ks, const kernels::CapsDenseParams& p) {
  return p.low_memory ? *kernels::kernel_set(CAPS_KERNELS_REFERENCE)
                      : kernels::caps_kernels(ks, p.predict.weight_layout);
}

uint64_t caps_dense_scratch_f(const OpView& v, const caps_model_attributes& attrs,
                              const kernels::KernelSet& ks) {
  const kernels::CapsDenseParams p = caps_f_params(v, attrs);
  return caps_set(ks, p).caps_dense_f32_scratch_size(p);
}

#if CAPSRT_FLOAT
void caps_dense_run_f(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const CapsDenseRun& r = op_params<CapsDenseRun>(op);
  kernels::CapsDenseParams p = r.p;
  p.parallel = par;
  r.caps(p, f32(op.in[0]), f32(op.in[1]), f32(op.out), op.scratch);
}

void caps_dense_prepare_f(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks, PreparedOp& p) {
  const kernels::CapsDenseParams params = caps_f_params(v, attrs);
  set_op_params(p, CapsDenseRun{caps_set(ks, params).caps_dense_f32, params});
  p.run = caps_dense_run_f;
}
#endif

// --- int8 -------------------------------------------------------------------------------------

struct CapsDenseQRun {
  kernels::CapsDenseQFn caps;
  kernels::CapsDenseQParams p;
};

kernels::CapsDenseQParams caps_q_params(const OpView& v, const caps_model_attributes& attrs) {
  const caps_op_entry& op = *v.op;
  kernels::CapsDenseQParams p;
  p.predict = predict_params(v);
  p.iterations = static_cast<int>(attrs.routing_iterations);
  p.softmax_axis = static_cast<caps_softmax_axis>(attrs.routing_softmax_axis);
  p.squash = squash_q(attrs, op.params[CAPS_CAPS_DENSE_Q_FRAC], 15,
                      op.params[CAPS_CAPS_DENSE_Q_EPS_LO], op.params[CAPS_CAPS_DENSE_Q_EPS_HI]);
  p.low_memory = op.params[CAPS_CAPS_DENSE_LOW_MEMORY] != 0;
  p.threads = v.threads;
  return p;
}

uint64_t caps_dense_scratch_q(const OpView& v, const caps_model_attributes& attrs,
                              const kernels::KernelSet& ks) {
  return ks.caps_dense_q_scratch_size(caps_q_params(v, attrs));
}

void caps_dense_run_q(const PreparedOp& op, int32_t, const kernels::Parallel* par) {
  const CapsDenseQRun& r = op_params<CapsDenseQRun>(op);
  kernels::CapsDenseQParams p = r.p;
  p.parallel = par;
  r.caps(p, i8(op.in[0]), i8(op.in[1]), i32(op.in[2]), i16(op.out), op.scratch);
}

void caps_dense_prepare_q(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks, PreparedOp& p) {
  set_op_params(p, CapsDenseQRun{ks.caps_dense_q, caps_q_params(v, attrs)});
  p.run = caps_dense_run_q;
}

}  // namespace

constexpr uint8_t I8 = CAPS_DTYPE_I8, I16 = CAPS_DTYPE_I16, I32 = CAPS_DTYPE_I32;
extern const OpRecord kCapsDense = {
    CAPS_OP_CAPS_DENSE, 0,
    {"CapsDense", 2, 0b10, 3, {I8, I8, I32, 0}, I16},  // u, weights (, requant)
    CAPS_LAYOUT_CAPS_JDKI, CAPS_LAYOUT_CAPS_JDKI,
    caps_dense_infer, caps_dense_check_q_constants, nullptr,
    {caps_dense_scratch_f, CAPSRT_IF_FLOAT(caps_dense_prepare_f)},
    {caps_dense_scratch_q, caps_dense_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
