// Internal: the execution side of the op table.
#ifndef CAPSRT_OP_RUN_HPP
#define CAPSRT_OP_RUN_HPP

#include "capsrt/ops.hpp"

namespace capsrt {

struct OpContext {
  const caps_op_entry* op;
  const caps_model_attributes* attrs;
  const void* in[CAPS_MAX_OP_INPUTS];
  Shape in_shape[CAPS_MAX_OP_INPUTS];
  void* out;
  Shape out_shape;
  void* scratch;
  int32_t mask_class;  // Mask op: class to keep, -1 for the highest score
};

// The predicted class: first index of the highest of `count` scores (PyTorch's argmax rule).
uint32_t first_max_index(const float* scores, uint32_t count);

// Runs one validated op.
void op_run(const OpContext& ctx);

}  // namespace capsrt

#endif
