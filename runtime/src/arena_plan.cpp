// The arena of one interpreter: the file's activation plan, each op's scratch for the chosen
// kernel set, and the prepared op table.
//
//   [0, ...)        activations at the offsets the file gives (checked at load)
//   scratch         op k's scratch at the lowest 64-aligned offset that no activation live
//                   during op k overlaps (ops never run at the same time, so their scratch may
//                   share bytes); the writer reserves room for the largest set's scratch, so this
//                   first fit never ends past the file's arena_size for a set it knew
//   prepared ops    after everything else: op_count x kPreparedOpBytes
//
// The same function sizes the arena in the tools (per kernel set) and places it at init, so the
// two cannot disagree.
#include "arena_plan.hpp"

namespace capsrt {
namespace {

uint64_t align64(uint64_t n) { return (n + 63) / 64 * 64; }

// Op indices (< CAPS_MAX_OPS = 128, and op_count for "to the end") fit a byte: 512 bytes of stack
// for all tensors.
struct Interval {
  uint8_t first, last;
};
static_assert(CAPS_MAX_OPS <= 255, "op indices fit a byte");

// Activation `id`'s live ops, by the rule of Model::validate: [producer, last reader]; the input
// and the outputs live for the whole run.
Interval live_interval(const Model& m, uint32_t id) {
  const caps_model_attributes& a = m.attributes();
  if (id == a.input_tensor || id == a.scores_tensor || id == a.poses_tensor ||
      id == a.recon_tensor)
    return Interval{0, static_cast<uint8_t>(m.op_count())};
  Interval r{0, 0};
  for (uint32_t k = 0; k < m.op_count(); ++k)
    if (m.op(k).output == id) r.first = r.last = static_cast<uint8_t>(k);
  for (uint32_t k = 0; k < m.op_count(); ++k) {
    const caps_op_entry op = m.op(k);
    for (uint32_t s = 0; s < op.n_inputs; ++s)
      if (op.inputs[s] == id && k > r.last) r.last = static_cast<uint8_t>(k);
  }
  return r;
}

}  // namespace

OpView op_view(const Model& m, uint32_t k, caps_op_entry* storage) {
  *storage = m.op(k);
  OpView v;
  v.op = storage;
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
    v.in_layout[s] = CAPS_LAYOUT_ROW_MAJOR;
    if (s >= storage->n_inputs) continue;
    v.in_shape[s] = m.tensor_shape(storage->inputs[s]);
    v.in_layout[s] = static_cast<caps_layout>(m.tensor(storage->inputs[s]).layout);
  }
  v.out_shape = m.tensor_shape(storage->output);
  return v;
}

caps_status plan_arena(const Model& m, const kernels::KernelSet& ks, ArenaPlan* plan) {
  Interval live[CAPS_MAX_TENSORS];
  uint64_t top = 0;
  for (uint32_t id = 0; id < m.tensor_count(); ++id) {
    const caps_tensor_entry t = m.tensor(id);
    if (t.kind != CAPS_TENSOR_ACTIVATION) continue;
    live[id] = live_interval(m, id);
    if (align64(uint64_t{t.offset} + t.byte_length) > top) top = align64(uint64_t{t.offset} + t.byte_length);
  }
  for (uint32_t k = 0; k < m.op_count(); ++k) {
    caps_op_entry storage;
    const uint64_t need = align64(op_scratch_bytes(op_view(m, k, &storage), m.attributes(), ks));
    plan->scratch_offset[k] = 0;
    plan->scratch_size[k] = 0;
    if (need == 0) continue;
    if (need > UINT32_MAX) return CAPS_ERR_BAD_ARENA_PLAN;
    // Candidates: 0 and the end of every activation live during op k; take the lowest that
    // overlaps none of them.
    auto clashes = [&](uint64_t at) {
      for (uint32_t id = 0; id < m.tensor_count(); ++id) {
        const caps_tensor_entry t = m.tensor(id);
        if (t.kind != CAPS_TENSOR_ACTIVATION || live[id].first > k || live[id].last < k) continue;
        if (at < uint64_t{t.offset} + t.byte_length && t.offset < at + need) return true;
      }
      return false;
    };
    uint64_t best = UINT64_MAX;
    if (!clashes(0)) best = 0;
    for (uint32_t id = 0; id < m.tensor_count() && best != 0; ++id) {
      const caps_tensor_entry t = m.tensor(id);
      if (t.kind != CAPS_TENSOR_ACTIVATION || live[id].first > k || live[id].last < k) continue;
      const uint64_t at = align64(uint64_t{t.offset} + t.byte_length);
      if (at < best && !clashes(at)) best = at;
    }
    if (best + need > UINT32_MAX) return CAPS_ERR_BAD_ARENA_PLAN;
    plan->scratch_offset[k] = static_cast<uint32_t>(best);
    plan->scratch_size[k] = static_cast<uint32_t>(need);
    if (best + need > top) top = best + need;
  }
  plan->prepared_offset = top;
  plan->total = top + m.op_count() * kPreparedOpBytes;
  // Offsets are uint32 in files; an arena past 4 GiB is not something a file can describe.
  return plan->total > UINT32_MAX ? CAPS_ERR_BAD_ARENA_PLAN : CAPS_OK;
}

}  // namespace capsrt
