// The op table's static side: what each op reads, what shape it writes, how much scratch it needs
// and how many multiply-adds it does. The runtime validates models with these functions and the
// tools (writer, converter, summary) use the same ones, so the two can never disagree.
#ifndef CAPSRT_OPS_HPP
#define CAPSRT_OPS_HPP

#include <cstddef>
#include <cstdint>

#include "capsrt/capsrt.hpp"
#include "capsrt/file_format.h"

namespace capsrt {

struct Shape {
  uint32_t rank = 0;
  uint32_t dims[CAPS_MAX_RANK] = {0, 0, 0, 0};
  // Product of the dims, or UINT64_MAX if it overflows 64 bits (never wraps).
  uint64_t numel() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

struct OpDesc {
  const char* name;
  uint8_t n_inputs;
  uint8_t const_mask;  // bit k set: input k is a const (weight) tensor, else an activation
  // The int8 form of the op (since version 1.2; docs/fixed-point.md): its inputs' dtypes in
  // slot order (n_inputs_q of them, caps_dtype) and its output's. An op is int8 when its first
  // input is not float32; the const mask is the float one's (the requantisation table, when
  // there is one, is one more const slot).
  uint8_t n_inputs_q;
  uint8_t dtypes_q[CAPS_MAX_OP_INPUTS];
  uint8_t output_dtype_q;
};

// NULL for an unknown opcode.
const OpDesc* op_desc(uint32_t opcode);
// Is input k of an op const? (the float mask, plus the int8 form's requantisation slot)
bool op_input_is_const(const OpDesc& d, uint32_t slot);
// The packed layout an op's weights (input slot 1) are stored in for its kernels, in its float
// or int8 form; CAPS_LAYOUT_ROW_MAJOR when it has none. K4O is required where it is the layout;
// the others are optional (files written before version 1.1 hold row-major weights).
caps_layout op_weight_layout(uint32_t opcode, bool quantized);

struct OpInfo {
  Shape output;
  uint64_t macs = 0;           // multiply-adds of one run
};

// Checks an op's params and input shapes (in slot order) and computes its output shape, scratch
// and cost. CAPS_ERR_BAD_OP for bad params, CAPS_ERR_SHAPE_MISMATCH for inputs that do not fit.
// `quantized`: the op's int8 form (its params and extra input are checked too).
caps_status op_infer(const caps_op_entry& op, const Shape* inputs,
                     const caps_model_attributes& attrs, OpInfo* info, bool quantized = false);

// The largest |bias| an int8 conv or dense layer with K products per output may have, so that
// bias + K x 128 x 127 fits an int32 (the validator checks every bias value against it).
uint64_t q_bias_bound(uint64_t k);

// The scratch a version 1.0 file records for a valid float op: the reference kernels', with
// row-major weights.
uint64_t op_reference_scratch(const caps_op_entry& op, const Shape* inputs, const Shape& output,
                              const caps_model_attributes& attrs);

// Scratch bytes a valid op needs with kernel set `kernels` (CAPS_KERNELS_*, not AUTO; any set,
// also one this build cannot run), given its input shapes and weight layouts (caps_layout, in
// slot order). 0 for an unknown set. The runtime places this scratch at init; the writer uses it
// to reserve room in the arena plan.
uint64_t op_scratch_for(const caps_op_entry& op, const Shape* inputs, const uint8_t* layouts,
                        const Shape& output, const caps_model_attributes& attrs, uint32_t kernels,
                        bool quantized = false);

// a x b, or UINT64_MAX if that overflows (saturating: a saturated size fails every bound check).
uint64_t mul_sat(uint64_t a, uint64_t b);
// count elements of `esize` bytes fit CAPS_MAX_BUFFER_BYTES?
bool fits_buffer(uint64_t count, uint64_t esize);

// Bytes of one element, 0 for an unknown dtype.
uint32_t dtype_size(uint32_t dtype);

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32): feed with crc = 0 first, then chain.
uint32_t crc32_update(uint32_t crc, const void* data, size_t size);
// The file checksum: CRC-32 of the whole file with the header's checksum field read as zero.
uint32_t model_checksum(const void* file, size_t total_size);

}  // namespace capsrt

#endif
