// What several op records share (op_common.hpp).
#include "op_common.hpp"

#include <cstring>

#include "capsrt/capsrt.hpp"

namespace capsrt {
namespace ops {

bool params_zero_from(const caps_op_entry& op, int first) {
  for (int k = first; k < 8; ++k)
    if (op.params[k] != 0) return false;
  return true;
}

Shape make_shape(uint32_t rank, uint64_t d0, uint64_t d1, uint64_t d2) {
  Shape s;
  s.rank = rank;
  s.dims[0] = static_cast<uint32_t>(d0);
  s.dims[1] = static_cast<uint32_t>(d1);
  s.dims[2] = static_cast<uint32_t>(d2);
  return s;
}

caps_status infer_conv(const caps_op_entry& op, const Shape* in, Shape* out) {
  const uint32_t sh = op.params[CAPS_CONV_STRIDE_H], sw = op.params[CAPS_CONV_STRIDE_W];
  const uint32_t ph = CAPS_CONV_PAD_BEFORE(op.params[CAPS_CONV_PAD_H]);
  const uint32_t pw = CAPS_CONV_PAD_BEFORE(op.params[CAPS_CONV_PAD_W]);
  const uint32_t eh = CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_H]);
  const uint32_t ew = CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_W]);
  if (sh < 1 || sw < 1 || sh > kMaxStride || sw > kMaxStride || ph > kMaxPad || pw > kMaxPad ||
      eh > kMaxPad || ew > kMaxPad)
    return CAPS_ERR_BAD_OP;
  const Shape& x = in[0];
  const Shape& w = in[1];
  const Shape& b = in[2];
  if (x.rank != 3 || w.rank != 4 || b.rank != 1) return CAPS_ERR_SHAPE_MISMATCH;
  if (w.dims[1] != x.dims[0] || b.dims[0] != w.dims[0]) return CAPS_ERR_SHAPE_MISMATCH;
  const uint64_t kh = w.dims[2], kw = w.dims[3];
  // No window may lie wholly in the padding, before or after the input.
  if (ph >= kh || pw >= kw || ph + eh >= kh || pw + ew >= kw) return CAPS_ERR_BAD_OP;
  const uint64_t h = x.dims[1] + 2ull * ph + eh, wd = x.dims[2] + 2ull * pw + ew;
  if (h < kh || wd < kw) return CAPS_ERR_SHAPE_MISMATCH;
  // The kernels may copy the input zero-padded, and PrimaryCaps keeps the conv output in
  // scratch: both must fit the buffer bound like any tensor.
  if (!fits_buffer(mul_sat(mul_sat(x.dims[0], h), wd), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  *out = conv_output_shape(op, x, w);
  if (!fits_buffer(out->numel(), sizeof(float))) return CAPS_ERR_SHAPE_MISMATCH;
  return CAPS_OK;
}

uint64_t conv_macs(const Shape& x, const Shape& w, const Shape& y) {
  return y.numel() * x.dims[0] * w.dims[2] * w.dims[3];
}

caps_status infer_q_dot(const Shape& requant, uint64_t out_channels, uint64_t k) {
  if (requant.rank != 2 || requant.dims[0] != out_channels || requant.dims[1] != 2)
    return CAPS_ERR_SHAPE_MISMATCH;
  if (k > kMaxQDotTerms) return CAPS_ERR_SHAPE_MISMATCH;
  return CAPS_OK;
}

caps_status check_q_weights(const Model& m, const caps_op_entry& op) {
  const caps_tensor_entry w = m.tensor(op.inputs[1]);
  const int8_t* wd = static_cast<const int8_t*>(m.const_data(op.inputs[1]));
  for (uint32_t n = 0; n < w.byte_length; ++n)
    if (wd[n] == -128) return CAPS_ERR_BAD_TENSOR;
  const Shape ws = m.tensor_shape(op.inputs[1]);
  const uint64_t out_channels = ws.dims[0], k = ws.numel() / ws.dims[0];
  if (w.layout == CAPS_LAYOUT_K4O && k % 4 != 0) {
    for (uint64_t o = 0; o < out_channels; ++o)
      for (uint64_t kk = k; kk % 4 != 0; ++kk)
        if (wd[kernels::k4o_index(static_cast<int>(out_channels), static_cast<int>(o),
                                  static_cast<int>(kk))] != 0)
          return CAPS_ERR_BAD_TENSOR;
  }
  return CAPS_OK;
}

caps_status check_q_requant(const Model& m, const caps_op_entry& op, uint32_t slot,
                            uint32_t columns) {
  const int32_t* rq = static_cast<const int32_t*>(m.const_data(op.inputs[slot]));
  const uint32_t rows = m.tensor_shape(op.inputs[slot]).dims[0];
  for (uint32_t r = 0; r < rows; ++r) {
    int32_t mult, shift;
    std::memcpy(&mult, rq + r * columns, sizeof mult);
    std::memcpy(&shift, rq + r * columns + 1, sizeof shift);
    if (mult < (1 << 30) || shift < 1 || shift > 62) return CAPS_ERR_BAD_TENSOR;
  }
  return CAPS_OK;
}

caps_status check_q_dot_constants(const Model& m, const caps_op_entry& op) {
  caps_status st = check_q_weights(m, op);
  if (st != CAPS_OK || (st = check_q_requant(m, op, 3, 2)) != CAPS_OK) return st;
  const Shape ws = m.tensor_shape(op.inputs[1]);
  const uint64_t out_channels = ws.dims[0];
  const uint64_t bound = q_bias_bound(ws.numel() / out_channels);
  const int32_t* bias = static_cast<const int32_t*>(m.const_data(op.inputs[2]));
  for (uint64_t o = 0; o < out_channels; ++o) {
    int32_t b;
    std::memcpy(&b, bias + o, sizeof b);
    const uint64_t mag = b < 0 ? uint64_t{0} - static_cast<uint64_t>(int64_t{b}) : static_cast<uint64_t>(b);
    if (mag > bound) return CAPS_ERR_BAD_TENSOR;
  }
  return CAPS_OK;
}

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
  p.pad_h = static_cast<int>(CAPS_CONV_PAD_BEFORE(op.params[CAPS_CONV_PAD_H]));
  p.pad_w = static_cast<int>(CAPS_CONV_PAD_BEFORE(op.params[CAPS_CONV_PAD_W]));
  p.pad_h_extra = static_cast<int>(CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_H]));
  p.pad_w_extra = static_cast<int>(CAPS_CONV_PAD_EXTRA_AFTER(op.params[CAPS_CONV_PAD_W]));
  p.activation = act;
  p.weight_layout = v.in_layout[1];
  p.threads = v.threads;
  return p;
}

Shape conv_output_shape(const caps_op_entry& op, const Shape& x, const Shape& w) {
  const uint64_t sh = op.params[CAPS_CONV_STRIDE_H], sw = op.params[CAPS_CONV_STRIDE_W];
  const uint32_t ph = op.params[CAPS_CONV_PAD_H], pw = op.params[CAPS_CONV_PAD_W];
  const uint64_t h = x.dims[1] + 2ull * CAPS_CONV_PAD_BEFORE(ph) + CAPS_CONV_PAD_EXTRA_AFTER(ph);
  const uint64_t wd = x.dims[2] + 2ull * CAPS_CONV_PAD_BEFORE(pw) + CAPS_CONV_PAD_EXTRA_AFTER(pw);
  return make_shape(3, w.dims[0], (h - w.dims[2]) / sh + 1, (wd - w.dims[3]) / sw + 1);
}

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

kernels::SquashParams squash_params(const caps_model_attributes& attrs) {
  return {static_cast<caps_squash_eps_mode>(attrs.squash_eps_mode), attrs.squash_eps};
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

}  // namespace ops
}  // namespace capsrt
