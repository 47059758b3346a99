// Internal: where an interpreter's scratch and prepared ops go in its arena (arena_plan.cpp).
#ifndef CAPSRT_ARENA_PLAN_HPP
#define CAPSRT_ARENA_PLAN_HPP

#include "capsrt/capsrt.hpp"
#include "capsrt/live_sets.hpp"
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

// The arena plan of a loaded model with kernel set `ks` and `threads` tasks per op (each with
// its own scratch where the op's kernels split); `sink` (may be NULL) receives each op's
// scratch placement. CAPS_ERR_BAD_ARENA_PLAN if the arena would exceed 4 GiB. Its frame is about
// 600 bytes (the live intervals below): Model::load calls it, and load's stack is bounded.
caps_status plan_arena(const Model& m, const kernels::KernelSet& ks, ArenaPlan* plan,
                       const ScratchSink* sink = nullptr, int threads = 1);

// An op's tensor ids, read from its entry without copying the whole 64 bytes (stack depth).
void op_io(const Model& m, uint32_t k, OpIo* io);
uint32_t op_output(const Model& m, uint32_t k);

// A loaded model as walk_live_sets (capsrt/live_sets.hpp) reads a graph.
struct ModelGraph {
  const Model& m;
  uint32_t op_count() const { return m.op_count(); }
  void op_io(uint32_t k, OpIo* io) const { capsrt::op_io(m, k, io); }
};
template <typename Visit>
caps_status walk_live_sets(const Model& m, Visit&& visit) {
  return walk_live_sets(ModelGraph{m}, m.attributes(), visit);
}

// Op `k` of a loaded model, as preparing and sizing see it; `storage` keeps the entry.
OpView op_view(const Model& m, uint32_t k, caps_op_entry* storage);

}  // namespace capsrt

#endif
