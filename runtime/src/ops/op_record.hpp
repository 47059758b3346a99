// Internal: one record per op (docs/design.md, "Adding an op"). Each op is one file in this
// folder, holding what the runtime and the tools need of it:
//   - its desc: name, arity, which inputs are weights, the int8 form's dtypes, the packed weight
//     layout its kernels read;
//   - infer: checks its params and input shapes and computes its output shape and cost (the
//     loader and the model writer share it);
//   - check_q_constants: the int8 form's checks on its constants (weights, biases, requantisation);
//   - per numeric form (float32, int8): scratch, the bytes of scratch it needs with a kernel set
//     (from the kernel's own *_scratch_size), and prepare, which fills a PreparedOp: the kernel
//     to call, its parameters, and the runner invoke calls.
// op_table.cpp lists the records by opcode, and is the only place that dispatches on opcode.
#ifndef CAPSRT_OPS_OP_RECORD_HPP
#define CAPSRT_OPS_OP_RECORD_HPP

#include <new>
#include <type_traits>

#include "capsrt/ops.hpp"
#include "kernel_set.h"
#include "parallel.h"

// A float form's prepare, or NULL in an int8-only build (CAPSRT_FLOAT=0).
#if CAPSRT_FLOAT
#define CAPSRT_IF_FLOAT(fn) fn
#else
#define CAPSRT_IF_FLOAT(fn) nullptr
#endif

namespace capsrt {

class Model;

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
  int threads = 1;             // the interpreter's max_threads: the kernels' scratch slots
};

struct PreparedOp;
// Runs a prepared op. mask_class: the class Mask keeps (-1: the predicted one); others ignore it.
// par: the interpreter's threads (kernels/parallel.h), for the ops whose kernels split (set in
// their kernel parameters for this run); never NULL.
using OpRunner = void (*)(const PreparedOp& op, int32_t mask_class, const kernels::Parallel* par);

// Bytes of a prepared op's own parameters (its kernel pointers and parameter structs).
constexpr size_t kOpParamBytes = 184;

// One op ready to run: made once at Interpreter::init, kept in the arena.
struct PreparedOp {
  OpRunner run;
  uint64_t macs;    // multiply-adds of one run (for the observer)
  uint16_t opcode;
  const void* in[CAPS_MAX_OP_INPUTS];
  void* out;
  void* scratch;  // the op's scratch, placed by the arena plan (NULL when it needs none)
  alignas(8) unsigned char params[kOpParamBytes];  // the op's own struct: op_params<T>
};

// Every op takes this many bytes of the arena's prepared-op table, on every target (so a tool
// on a 64-bit host computes the arena a 32-bit board needs).
constexpr uint64_t kPreparedOpBytes = 256;
static_assert(sizeof(PreparedOp) <= kPreparedOpBytes, "prepared op too large");

// An op's parameter struct inside a PreparedOp: `set` constructs it at prepare, `get` reads it
// in the runner. Each op file defines its own struct (kernel pointers, kernel params).
template <typename T>
T& set_op_params(PreparedOp& p, const T& value) {
  static_assert(sizeof(T) <= kOpParamBytes && alignof(T) <= 8, "op params too large");
  static_assert(std::is_trivially_copyable<T>::value && std::is_trivially_destructible<T>::value,
                "op params are plain data");
  return *::new (static_cast<void*>(p.params)) T(value);
}
template <typename T>
T& op_params(PreparedOp& p) {
  return *std::launder(reinterpret_cast<T*>(p.params));
}
template <typename T>
const T& op_params(const PreparedOp& p) {
  return *std::launder(reinterpret_cast<const T*>(p.params));
}

// One numeric form of an op (float32 or int8).
struct OpForm {
  // Scratch bytes with kernel set `ks` (64-bit arithmetic on a validated op); NULL: none.
  uint64_t (*scratch)(const OpView& v, const caps_model_attributes& attrs,
                      const kernels::KernelSet& ks);
  // Fills p.run and p.params (p.in, p.out and p.scratch are set). NULL: not in this build (the
  // float form of an int8-only build: such models do not load).
  void (*prepare)(const OpView& v, const caps_model_attributes& attrs,
                  const kernels::KernelSet& ks, PreparedOp& p);
};

struct OpRecord {
  uint16_t opcode;  // CAPS_OP_*
  // The format's minor version that introduced the op: a file of an older minor version that
  // uses it is refused (a runtime of that version would not know the opcode).
  uint8_t since_minor;
  OpDesc desc;
  // The packed layout its weights (slot 1) may have, per form: CAPS_LAYOUT_ROW_MAJOR when none.
  // A K4O layout is the only one the form reads; any other packed layout is optional (row-major
  // files from before version 1.1 stay valid).
  uint8_t weight_layout_f, weight_layout_q;
  // Checks the op's params and input shapes (slot order) and computes its output shape, cost and
  // (float form, row-major weights) the reference kernels' scratch. CAPS_ERR_BAD_OP for bad
  // params, CAPS_ERR_SHAPE_MISMATCH for inputs that do not fit.
  caps_status (*infer)(const caps_op_entry& op, const Shape* in,
                       const caps_model_attributes& attrs, bool quantized, OpInfo* info);
  // The int8 form's constants, read once at load (an op whose infer passed); NULL: none.
  caps_status (*check_q_constants)(const Model& m, const caps_op_entry& op);
  // Does the int8 form's output lie in 0..127 (a ReLU's)? A conv reading it may treat it as
  // unsigned. NULL: never.
  bool (*output_nonneg_q)(const caps_op_entry& op);
  OpForm f, q;
};

// The record of `opcode`, NULL for an unknown one.
const OpRecord* op_record(uint32_t opcode);

// Scratch bytes op `v` needs with kernel set `ks`.
uint64_t op_scratch_bytes(const OpView& v, const caps_model_attributes& attrs,
                          const kernels::KernelSet& ks);

// Fills `out` for op `v`: kernels from `ks`, parameters, and the given buffers.
void op_prepare(const OpView& v, const caps_model_attributes& attrs, const kernels::KernelSet& ks,
                const void* const* in, void* out_tensor, void* scratch, PreparedOp* out);

// The int8 constants of op `op` of model `m` (its infer passed).
caps_status op_check_q_constants(const Model& m, const caps_op_entry& op);
// Does the int8 form of `op` write only values in 0..127 (a ReLU's output)?
bool op_output_nonneg_q(const caps_op_entry& op);

// The predicted class: first index of the highest of `count` scores (PyTorch's argmax rule).
#if CAPSRT_FLOAT
uint32_t first_max_index(const float* scores, uint32_t count);
#endif
uint32_t first_max_index(const int32_t* scores, uint32_t count);

}  // namespace capsrt

#endif
