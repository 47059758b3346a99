// The arena of one interpreter: the file's activation plan, each op's scratch for the chosen
// kernel set, and the prepared op table.
//
//   [0, ...)        activations at the offsets the file gives (checked at load)
//   scratch         op k's scratch (with room for `threads` tasks: kernels/parallel.h) at the
//                   lowest 64-aligned offset that no activation live
//                   during op k overlaps (ops never run at the same time, so their scratch may
//                   share bytes); the writer reserves room for the largest set's scratch, so this
//                   first fit never ends past the file's arena_size for a set it knew
//   prepared ops    after everything else: op_count x kPreparedOpBytes
//
// The same function sizes the arena in the tools (per kernel set) and places it at init, so the
// two cannot disagree.
#include "arena_plan.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace capsrt {
namespace {


// Op k's scratch with set `ks`, aligned. Its own frame, apart from plan_arena's.
__attribute__((noinline)) uint64_t scratch_need(const Model& m, const kernels::KernelSet& ks,
                                                uint32_t k, int threads) {
  caps_op_entry storage;
  OpView v = op_view(m, k, &storage);
  v.threads = threads;
  return kernels::align_up(op_scratch_bytes(v, m.attributes(), ks));
}

// Where activation `id` lies in the arena: [begin, end). Reads the two fields, not the whole
// 64-byte entry (plan_arena's frame stays small).
struct Extent {
  uint64_t begin, end;
};
Extent extent(const Model& m, uint32_t id) {
  const uint8_t* e = m.bytes() + m.header().tensor_table_offset + uint64_t{id} * sizeof(caps_tensor_entry);
  uint32_t offset, length;
  std::memcpy(&offset, e + offsetof(caps_tensor_entry, offset), sizeof offset);
  std::memcpy(&length, e + offsetof(caps_tensor_entry, byte_length), sizeof length);
  return Extent{offset, uint64_t{offset} + length};
}

}  // namespace

void op_io(const Model& m, uint32_t k, OpIo* io) {
  const uint8_t* e = m.bytes() + m.header().op_table_offset + uint64_t{k} * sizeof(caps_op_entry);
  uint8_t n = 0;
  std::memcpy(&n, e + offsetof(caps_op_entry, n_inputs), 1);
  io->n_inputs = n < CAPS_MAX_OP_INPUTS ? n : CAPS_MAX_OP_INPUTS;
  std::memcpy(io->inputs, e + offsetof(caps_op_entry, inputs), sizeof io->inputs);
  std::memcpy(&io->output, e + offsetof(caps_op_entry, output), sizeof io->output);
}

uint32_t op_output(const Model& m, uint32_t k) {
  OpIo io;
  op_io(m, k, &io);
  return io.output;
}

// Is activation `id` written by an int8 op whose output is a ReLU's (0..127)? A conv reading it
// may then treat it as unsigned.
bool relu_output(const Model& m, uint32_t id) {
  for (uint32_t k = 0; k < m.op_count(); ++k)
    if (op_output(m, k) == id) return op_output_nonneg_q(m.op(k));
  return false;  // the graph input
}

__attribute__((noinline)) OpView op_view(const Model& m, uint32_t k, caps_op_entry* storage) {
  *storage = m.op(k);
  OpView v;
  v.op = storage;
  // One read of each tensor entry (its 64 bytes once in this frame): Model::load's stack.
  auto shape_of = [](const caps_tensor_entry& t) {
    Shape sh;
    sh.rank = t.rank;
    for (uint32_t d = 0; d < CAPS_MAX_RANK; ++d) sh.dims[d] = t.dims[d];
    return sh;
  };
  for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
    v.in_layout[s] = CAPS_LAYOUT_ROW_MAJOR;
    if (s >= storage->n_inputs) continue;
    const caps_tensor_entry t = m.tensor(storage->inputs[s]);
    v.in_shape[s] = shape_of(t);
    v.in_layout[s] = static_cast<caps_layout>(t.layout);
    if (s == 0) {
      v.quantized = t.dtype != CAPS_DTYPE_F32;
      v.in_zero_point = t.quant_zero_point;
    }
  }
  v.out_shape = shape_of(m.tensor(storage->output));
  v.in_nonneg = v.quantized && relu_output(m, storage->inputs[0]);
  return v;
}

caps_status plan_arena(const Model& m, const kernels::KernelSet& ks, ArenaPlan* plan,
                       const ScratchSink* sink, int threads) {
  uint64_t top = 0;
  walk_live_sets(m, [&](uint32_t, const TensorSet& live) {  // every activation is live somewhere
    for (uint32_t id = 0; id < m.tensor_count(); ++id)
      if (live.has(id)) top = std::max(top, kernels::align_up(extent(m, id).end));
    return CAPS_OK;
  });
  const caps_status s = walk_live_sets(m, [&](uint32_t k, const TensorSet& live) {
    const uint64_t need = scratch_need(m, ks, k, threads);
    if (need == 0) {
      if (sink != nullptr) sink->place(sink->ctx, k, 0, 0);
      return CAPS_OK;
    }
    if (need > UINT32_MAX) return CAPS_ERR_BAD_ARENA_PLAN;
    // Candidates: 0 and the end of every activation live during op k; take the lowest that
    // overlaps none of them.
    auto clashes = [&](uint64_t at) {
      for (uint32_t id = 0; id < m.tensor_count(); ++id) {
        if (!live.has(id)) continue;
        const Extent e = extent(m, id);
        if (at < e.end && e.begin < at + need) return true;
      }
      return false;
    };
    uint64_t best = UINT64_MAX;
    if (!clashes(0)) best = 0;
    for (uint32_t id = 0; id < m.tensor_count() && best != 0; ++id) {
      if (!live.has(id)) continue;
      const uint64_t at = kernels::align_up(extent(m, id).end);
      if (at < best && !clashes(at)) best = at;
    }
    if (best + need > UINT32_MAX) return CAPS_ERR_BAD_ARENA_PLAN;
    if (sink != nullptr)
      sink->place(sink->ctx, k, static_cast<uint32_t>(best), static_cast<uint32_t>(need));
    top = std::max(top, best + need);
    return CAPS_OK;
  });
  if (s != CAPS_OK) return s;
  plan->prepared_offset = top;
  plan->total = top + m.op_count() * kPreparedOpBytes;
  // Offsets are uint32 in files; an arena past 4 GiB is not something a file can describe.
  return plan->total > UINT32_MAX ? CAPS_ERR_BAD_ARENA_PLAN : CAPS_OK;
}

}  // namespace capsrt
