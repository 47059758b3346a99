// The op table: the records of ops/*.cpp by opcode, and the functions that dispatch through it.
// This is the only place in the runtime that looks an opcode up.
#include "op_common.hpp"

namespace capsrt {

namespace ops {
extern const OpRecord kConv2D, kPrimaryCaps, kCapsDense, kLength, kMask, kDense, kEmPrimaryCaps, kEmConvCaps,
    kEmClassCaps;
}  // namespace ops

namespace {

// Indexed by opcode - 1 (format.h's caps_opcode).
const OpRecord* const kRecords[] = {
    &ops::kConv2D,       &ops::kPrimaryCaps, &ops::kCapsDense,   &ops::kLength, &ops::kMask, &ops::kDense,
    &ops::kEmPrimaryCaps, &ops::kEmConvCaps,  &ops::kEmClassCaps,
};
constexpr uint32_t kRecordCount = sizeof(kRecords) / sizeof(kRecords[0]);

// An op's multiply-adds, for the observer. Its own frame, beside the preparation's.
__attribute__((noinline)) uint64_t op_macs(const OpRecord& r, const OpView& v,
                                           const caps_model_attributes& attrs) {
  OpInfo info;
  return r.infer(*v.op, v.in_shape, attrs, v.quantized, &info) == CAPS_OK ? info.macs : 0;
}

}  // namespace

const OpRecord* op_record(uint32_t opcode) {
  if (opcode < 1 || opcode > kRecordCount) return nullptr;
  return kRecords[opcode - 1];
}

const OpDesc* op_desc(uint32_t opcode) {
  const OpRecord* r = op_record(opcode);
  return r == nullptr ? nullptr : &r->desc;
}

bool op_input_is_const(const OpDesc& d, uint32_t slot) {
  return ((d.const_mask >> slot) & 1u) || (slot >= d.n_inputs && slot < d.n_inputs_q);
}

caps_layout op_weight_layout(uint32_t opcode, bool quantized) {
  const OpRecord* r = op_record(opcode);
  if (r == nullptr) return CAPS_LAYOUT_ROW_MAJOR;
  return static_cast<caps_layout>(quantized ? r->weight_layout_q : r->weight_layout_f);
}

caps_status op_infer(const caps_op_entry& op, const Shape* in, const caps_model_attributes& attrs,
                     OpInfo* info, bool quantized) {
  *info = OpInfo{};
  const OpRecord* r = op_record(op.opcode);
  if (r == nullptr) return CAPS_ERR_BAD_OP;
  return r->infer(op, in, attrs, quantized, info);
}

caps_status op_check_q_constants(const Model& m, const caps_op_entry& op) {
  const OpRecord* r = op_record(op.opcode);
  if (r == nullptr || r->check_q_constants == nullptr) return CAPS_OK;
  return r->check_q_constants(m, op);
}

bool op_output_nonneg_q(const caps_op_entry& op) {
  const OpRecord* r = op_record(op.opcode);
  return r != nullptr && r->output_nonneg_q != nullptr && r->output_nonneg_q(op);
}

uint64_t op_scratch_bytes(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks) {
  const OpRecord* r = op_record(v.op->opcode);
  if (r == nullptr) return 0;
  const OpForm& form = v.quantized ? r->q : r->f;
  return form.scratch == nullptr ? 0 : form.scratch(v, attrs, ks);
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

uint64_t op_reference_scratch(const caps_op_entry& op, const Shape* inputs, const Shape& output,
                              const caps_model_attributes& attrs) {
  const uint8_t row_major[CAPS_MAX_OP_INPUTS] = {CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR,
                                                 CAPS_LAYOUT_ROW_MAJOR, CAPS_LAYOUT_ROW_MAJOR};
  return op_scratch_for(op, inputs, row_major, output, attrs, CAPS_KERNELS_REFERENCE, false);
}

void op_prepare(const OpView& v, const caps_model_attributes& attrs, const kernels::KernelSet& ks,
                const void* const* in, void* out_tensor, void* scratch, PreparedOp* out) {
  *out = PreparedOp{};
  PreparedOp& p = *out;
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) p.in[s] = in[s];
  p.out = out_tensor;
  p.scratch = scratch;
  const OpRecord* r = op_record(v.op->opcode);
  const OpForm& form = v.quantized ? r->q : r->f;  // the model was validated: r is not NULL
  p.opcode = v.op->opcode;
  p.macs = op_macs(*r, v, attrs);
  if (form.prepare != nullptr) form.prepare(v, attrs, ks, p);
}

// --- small shared arithmetic ------------------------------------------------------------------

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

uint32_t dtype_size(uint32_t dtype) {
  switch (dtype) {
    case CAPS_DTYPE_F32: return 4;
    case CAPS_DTYPE_I8: return 1;
    case CAPS_DTYPE_I16: return 2;
    case CAPS_DTYPE_I32: return 4;
    default: return 0;
  }
}

uint64_t q_bias_bound(uint64_t k) { return k > ops::kMaxQDotTerms ? 0 : 0x7FFFFFFFull - k * 128 * 127; }

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

}  // namespace capsrt
