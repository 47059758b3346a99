// Internal: where an interpreter's scratch and prepared ops go in its arena (arena_plan.cpp).
#ifndef CAPSRT_ARENA_PLAN_HPP
#define CAPSRT_ARENA_PLAN_HPP

#include "capsrt/capsrt.hpp"
#include "op_run.hpp"

namespace capsrt {

// About 1 KB: it lives on the stack of Model::load and Interpreter::init.
struct ArenaPlan {
  uint32_t scratch_offset[CAPS_MAX_OPS];
  uint32_t scratch_size[CAPS_MAX_OPS];
  uint64_t prepared_offset;  // op_count x kPreparedOpBytes from here
  uint64_t total;            // bytes the arena must have (at most 4 GiB, checked)
};

// The arena plan of a loaded model with kernel set `ks`. CAPS_ERR_BAD_ARENA_PLAN if it would
// exceed 4 GiB.
caps_status plan_arena(const Model& m, const kernels::KernelSet& ks, ArenaPlan* plan);

// Op `k` of a loaded model, as preparing and sizing see it; `storage` keeps the entry.
OpView op_view(const Model& m, uint32_t k, caps_op_entry* storage);

}  // namespace capsrt

#endif
