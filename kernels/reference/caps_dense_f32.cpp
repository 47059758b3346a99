#include "reference.h"

namespace capsrt {
namespace ref {

namespace {
uint64_t align64(uint64_t n) { return (n + 63) / 64 * 64; }
}  // namespace

// u_hat [J,I,DO], then logits [J,I], then coupling [J,I], each rounded up to 64 bytes.
// In 64 bits: on a 32-bit target the three buffers together may pass 4 GiB (the arena plan
// rejects that), each alone is within CAPS_MAX_BUFFER_BYTES.
uint64_t caps_dense_f32_scratch_size(const CapsDenseParams& p) {
  const uint64_t ji = static_cast<uint64_t>(p.predict.out_caps) * p.predict.in_caps;
  return align64(ji * p.predict.out_dim * sizeof(float)) + 2 * align64(ji * sizeof(float));
}

void caps_dense_f32(const CapsDenseParams& p, const float* u, const float* weights, float* v,
                    void* scratch) {
  const size_t ji = static_cast<size_t>(p.predict.out_caps) * p.predict.in_caps;
  float* u_hat = static_cast<float*>(scratch);
  const size_t u_hat_floats = static_cast<size_t>(align64(ji * p.predict.out_dim * sizeof(float)) / 4);
  float* logits = u_hat + u_hat_floats;
  float* coupling = logits + static_cast<size_t>(align64(ji * sizeof(float)) / 4);
  caps_predict_f32(p.predict, u, weights, u_hat);
  dynamic_routing_f32(p.routing, u_hat, logits, coupling, v);
}

}  // namespace ref
}  // namespace capsrt
