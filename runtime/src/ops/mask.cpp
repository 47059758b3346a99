// Mask: v [J,D], scores [J] -> [J*D]: v with every capsule but one zeroed, the decoder's input.
// The one kept is the class reconstruct() names, or the predicted class (the first highest
// score). Int8 form: v int16 Q15, scores int32 -> int8 Q7.
#include "op_common.hpp"

namespace capsrt {
namespace ops {
namespace {

caps_status mask_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes&,
                       bool, OpInfo* info) {
  if (!params_zero_from(op, 0)) return CAPS_ERR_BAD_OP;
  if (in[0].rank != 2 || in[1].rank != 1 || in[1].dims[0] != in[0].dims[0])
    return CAPS_ERR_SHAPE_MISMATCH;
  info->output = make_shape(1, in[0].numel());
  return CAPS_OK;
}

struct MaskSize {
  int count, dim;
};
MaskSize mask_size(const OpView& v) {
  return MaskSize{static_cast<int>(v.in_shape[0].dims[0]), static_cast<int>(v.in_shape[0].dims[1])};
}

// The two forms differ only in their element types: V (poses), S (scores), O (the output).
template <typename Fn>
struct MaskRun {
  Fn mask;
  MaskSize n;
};

template <typename Fn, typename V, typename S, typename O>
void mask_run(const PreparedOp& op, int32_t mask_class, const kernels::Parallel*) {
  const MaskRun<Fn>& r = op_params<MaskRun<Fn>>(op);
  const int keep = mask_class >= 0 ? mask_class
                                   : static_cast<int>(first_max_index(static_cast<const S*>(op.in[1]),
                                                                      static_cast<uint32_t>(r.n.count)));
  r.mask(static_cast<const V*>(op.in[0]), static_cast<O*>(op.out), r.n.count, r.n.dim, keep);
}

#if CAPSRT_FLOAT
void mask_prepare_f(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                    PreparedOp& p) {
  set_op_params(p, MaskRun<kernels::MaskFn>{ks.mask_f32, mask_size(v)});
  p.run = mask_run<kernels::MaskFn, float, float, float>;
}
#endif

void mask_prepare_q(const OpView& v, const caps_model_attributes&, const kernels::KernelSet& ks,
                    PreparedOp& p) {
  set_op_params(p, MaskRun<kernels::MaskQFn>{ks.mask_q, mask_size(v)});
  p.run = mask_run<kernels::MaskQFn, int16_t, int32_t, int8_t>;
}

}  // namespace

constexpr uint8_t I8 = CAPS_DTYPE_I8, I16 = CAPS_DTYPE_I16, I32 = CAPS_DTYPE_I32;
extern const OpRecord kMask = {
    CAPS_OP_MASK, 0,
    {"Mask", 2, 0b00, 2, {I16, I32, 0, 0}, I8},  // v, scores
    CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
    mask_infer, nullptr, nullptr,
    {nullptr, CAPSRT_IF_FLOAT(mask_prepare_f)},
    {nullptr, mask_prepare_q},
};

}  // namespace ops
}  // namespace capsrt
