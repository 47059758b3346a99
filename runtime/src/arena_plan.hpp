// Internal: where an interpreter's scratch and prepared ops go in its arena (arena_plan.cpp).
#ifndef CAPSRT_ARENA_PLAN_HPP
#define CAPSRT_ARENA_PLAN_HPP

#include "capsrt/capsrt.hpp"
#include "ops/op_record.hpp"

namespace capsrt {

struct ArenaPlan {
  uint64_t prepared_offset;  // op_count x kPreparedOpBytes from here
  uint64_t total;            // bytes the arena must have (at most 4 GiB, checked)
};

// Called by plan_arena for every op in order, with the op's scratch (size 0: none).
struct ScratchSink {
  void (*place)(void* ctx, uint32_t op, uint32_t offset, uint32_t size);
  void* ctx;
};

// The arena plan of a loaded model with kernel set `ks`; `sink` (may be NULL) receives each op's
// scratch placement. CAPS_ERR_BAD_ARENA_PLAN if the arena would exceed 4 GiB. Its frame is about
// 600 bytes (the live intervals below): Model::load calls it, and load's stack is bounded.
caps_status plan_arena(const Model& m, const kernels::KernelSet& ks, ArenaPlan* plan,
                       const ScratchSink* sink = nullptr);

// An op's tensor ids, read from its entry without copying the whole 64 bytes (stack depth).
struct OpIo {
  uint32_t n_inputs;
  uint32_t inputs[CAPS_MAX_OP_INPUTS];
  uint32_t output;
};
void op_io(const Model& m, uint32_t k, OpIo* io);
uint32_t op_output(const Model& m, uint32_t k);

// A set of tensor ids: 32 bytes.
struct TensorSet {
  uint32_t bits[CAPS_MAX_TENSORS / 32] = {};
  void add(uint32_t id) { bits[id / 32] |= 1u << (id % 32); }
  void remove(uint32_t id) { bits[id / 32] &= ~(1u << (id % 32)); }
  bool has(uint32_t id) const { return (bits[id / 32] >> (id % 32)) & 1u; }
};

// Walks the ops of a model whose graph is valid from the last to the first, and calls
// `visit(k, live)` with the tensors live during op k: the activations from their producer to
// their last reader (only during op k if none reads it), and the input and the outputs during
// every op. Returns the first status other than CAPS_OK a visit returns. Three sets on the stack,
// O(ops) work: Model::validate's stack stays small (docs/design.md, "Stack").
template <typename Visit>
caps_status walk_live_sets(const Model& m, Visit&& visit) {
  const caps_model_attributes& a = m.attributes();
  TensorSet produced, read_later, live;  // produced by an op <= k; read by an op >= k
  for (uint32_t k = 0; k < m.op_count(); ++k) produced.add(op_output(m, k));
  for (uint32_t k = m.op_count(); k-- > 0;) {
    OpIo op;
    op_io(m, k, &op);
    for (uint32_t s = 0; s < op.n_inputs; ++s) read_later.add(op.inputs[s]);
    for (uint32_t w = 0; w < CAPS_MAX_TENSORS / 32; ++w)
      live.bits[w] = produced.bits[w] & read_later.bits[w];
    live.add(op.output);
    live.add(a.input_tensor);
    live.add(a.scores_tensor);
    live.add(a.poses_tensor);
    if (a.recon_tensor != CAPS_NONE) live.add(a.recon_tensor);
    const caps_status s = visit(k, static_cast<const TensorSet&>(live));
    if (s != CAPS_OK) return s;
    produced.remove(op.output);
  }
  return CAPS_OK;
}

// Op `k` of a loaded model, as preparing and sizing see it; `storage` keeps the entry.
OpView op_view(const Model& m, uint32_t k, caps_op_entry* storage);

}  // namespace capsrt

#endif
