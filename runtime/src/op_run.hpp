// Internal: the execution side of the op table. At Interpreter::init every op is prepared once
// into a PreparedOp (its kernels from the chosen set, parameters, and buffer addresses), kept in
// the arena; invoke then calls each op's runner.
#ifndef CAPSRT_OP_RUN_HPP
#define CAPSRT_OP_RUN_HPP

#include "capsrt/ops.hpp"
#include "kernel_set.h"

namespace capsrt {

struct PreparedOp;
using OpRunner = void (*)(const PreparedOp& op, int32_t mask_class);

// Each op's kernel parameters: one member per op kind (float and int8 forms).
union OpParams {
  struct Conv {  // Conv2D (group and squash unused) and PrimaryCaps
    kernels::Conv2DParams conv;
    kernels::GroupingParams group;
    kernels::SquashParams squash;
  } conv;
  kernels::CapsDenseParams caps;
  kernels::DenseParams dense;
  struct ConvQ {  // Conv2D (primary unused) and PrimaryCaps, int8
    kernels::Conv2DQParams conv;
    kernels::PrimarySquashQParams primary;
  } conv_q;
  kernels::CapsDenseQParams caps_q;
  kernels::DenseQParams dense_q;
  OpParams() : conv() {}
};

struct PreparedOp {
  OpRunner run;
  const kernels::KernelSet* ks;       // the chosen set
  const kernels::KernelSet* conv_ks;  // Conv2D / PrimaryCaps: the set that reads the weights
  const kernels::KernelSet* caps_ks;  // CapsDense: the set that reads W
  const void* in[CAPS_MAX_OP_INPUTS];
  void* out;
  void* scratch;       // the op's scratch (PrimaryCaps: its conv output)
  void* conv_scratch;  // PrimaryCaps: the conv kernel's scratch, after the conv output
  OpParams p;
  int count, dim;  // PrimaryCaps: capsules; Length, Mask: classes and pose size
  float length_eps;
  uint32_t length_eps_q30;  // int8 Length
  bool softmax_scores;
};

// Every op takes this many bytes of the arena's prepared-op table, on every target (so a tool
// on a 64-bit host computes the arena a 32-bit board needs).
constexpr uint64_t kPreparedOpBytes = 256;
static_assert(sizeof(PreparedOp) <= kPreparedOpBytes, "prepared op too large");

// The view of one op that preparing and sizing need: entry, input shapes, weight layouts, and
// whether it is the op's int8 form.
struct OpView {
  const caps_op_entry* op;
  Shape in_shape[CAPS_MAX_OP_INPUTS];
  caps_layout in_layout[CAPS_MAX_OP_INPUTS];
  Shape out_shape;
  bool quantized = false;      // the op's int8 form
  int32_t in_zero_point = 0;   // int8: the first input's zero point (a conv's padding value)
  bool in_nonneg = false;      // int8: the first input is a ReLU's output (0..127, so >= 0)
};
inline bool op_is_quantized(const OpView& v) { return v.quantized; }

// Scratch bytes op `v` needs with kernel set `ks`.
uint64_t op_scratch_bytes(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks);

// Fills `out` for op `v`: kernels from `ks`, parameters, and the given buffers.
void op_prepare(const OpView& v, const caps_model_attributes& attrs, const kernels::KernelSet& ks,
                const void* const* in, void* out_tensor, void* scratch, PreparedOp* out);

// The predicted class: first index of the highest of `count` scores (PyTorch's argmax rule).
#if CAPSRT_FLOAT
uint32_t first_max_index(const float* scores, uint32_t count);
#endif
uint32_t first_max_index(const int32_t* scores, uint32_t count);

}  // namespace capsrt

#endif
