// Internal (the runtime and the tools; not installed): the tensor lifetime rule, written once.
// The loader checks a file's arena plan with it, the arena planner places scratch with it, and
// the model writer lays out the activations with it.
#ifndef CAPSRT_LIVE_SETS_HPP
#define CAPSRT_LIVE_SETS_HPP

#include <cstdint>

#include "capsrt/format.h"

namespace capsrt {

// An op's tensor ids.
struct OpIo {
  uint32_t n_inputs;
  uint32_t inputs[CAPS_MAX_OP_INPUTS];
  uint32_t output;
};

// A set of tensor ids: 32 bytes.
struct TensorSet {
  uint32_t bits[CAPS_MAX_TENSORS / 32] = {};
  void add(uint32_t id) { bits[id / 32] |= 1u << (id % 32); }
  void remove(uint32_t id) { bits[id / 32] &= ~(1u << (id % 32)); }
  bool has(uint32_t id) const { return (bits[id / 32] >> (id % 32)) & 1u; }
};

// The lifetime rule. Walks the ops of a graph from the last to the first and calls
// `visit(k, live)` with the tensors live during op k: each activation from the op that produces
// it to the last op that reads it (only during op k if none reads it), and the graph's input and
// outputs (attrs) during every op. Returns the first status other than CAPS_OK a visit returns.
// `Graph` has op_count() and op_io(k, OpIo*); its tensor ids are below CAPS_MAX_TENSORS and each
// activation has one producer (Model::validate checks the graph first). Three sets on the stack,
// O(ops) work: Model::validate's stack stays small (docs/design.md, "Stack").
template <typename Graph, typename Visit>
caps_status walk_live_sets(const Graph& g, const caps_model_attributes& a, Visit&& visit) {
  TensorSet produced, read_later, live;  // produced by an op <= k; read by an op >= k
  for (uint32_t k = 0; k < g.op_count(); ++k) {
    OpIo op;
    g.op_io(k, &op);
    produced.add(op.output);
  }
  for (uint32_t k = g.op_count(); k-- > 0;) {
    OpIo op;
    g.op_io(k, &op);
    for (uint32_t s = 0; s < op.n_inputs; ++s) read_later.add(op.inputs[s]);
    for (uint32_t w = 0; w < CAPS_MAX_TENSORS / 32; ++w)
      live.bits[w] = produced.bits[w] & read_later.bits[w];
    live.add(op.output);
    live.add(a.input_tensor);
    live.add(a.scores_tensor);
    if (a.poses_tensor != CAPS_NONE) live.add(a.poses_tensor);  // none in an EM model
    if (a.recon_tensor != CAPS_NONE) live.add(a.recon_tensor);
    const caps_status s = visit(k, static_cast<const TensorSet&>(live));
    if (s != CAPS_OK) return s;
    produced.remove(op.output);
  }
  return CAPS_OK;
}

}  // namespace capsrt

#endif
