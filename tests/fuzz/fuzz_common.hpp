// Helpers shared by the fuzz targets (tests/fuzz/): aligned copies, invariant checks that abort
// (so libFuzzer and the replay driver report them), and running a loaded model.
#ifndef CAPSRT_TESTS_FUZZ_COMMON_HPP
#define CAPSRT_TESTS_FUZZ_COMMON_HPP

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "capsrt/capsrt.hpp"
#include "capsrt/ops.hpp"

namespace fuzzcommon {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// The input in a 64-byte aligned buffer of its own (the loader wants 16-byte alignment, and
// ASan then sees reads past the end of the input).
class Aligned {
 public:
  Aligned(const uint8_t* data, size_t size)
      : p_(static_cast<uint8_t*>(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64))) {
    if (size) std::memcpy(p_.get(), data, size);
  }
  uint8_t* data() { return p_.get(); }

 private:
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::unique_ptr<uint8_t, Free> p_;
};

// Multiply-adds of one run, from the op table (the runtime's own accounting).
inline uint64_t model_macs(const capsrt::Model& m) {
  uint64_t total = 0;
  for (uint32_t k = 0; k < m.op_count(); ++k) {
    const caps_op_entry op = m.op(k);
    capsrt::Shape in[CAPS_MAX_OP_INPUTS];
    for (uint32_t s = 0; s < op.n_inputs; ++s) in[s] = m.tensor_shape(op.inputs[s]);
    capsrt::OpInfo info;
    if (capsrt::op_infer(op, in, m.attributes(), &info) != CAPS_OK) return UINT64_MAX;
    total += info.macs;
  }
  return total;
}

// Sets up and runs a loaded model on the reference and the best kernel set this machine runs,
// if its arena fits 16 MiB and a run costs at most `max_macs` multiply-adds (larger ones are
// valid, only slow to fuzz). The input pixels come from the fuzzer's bytes.
inline void run_model(const capsrt::Model& m, const uint8_t* data, size_t size, uint64_t max_macs) {
  constexpr size_t kArena = size_t{16} << 20;
  if (m.arena_size() > kArena || model_macs(m) > max_macs) return;
  static uint8_t* arena = static_cast<uint8_t*>(std::aligned_alloc(64, kArena));
  const uint32_t sets[] = {CAPS_KERNELS_REFERENCE, CAPS_KERNELS_AUTO};
  for (uint32_t set : sets) {
    capsrt::Interpreter it;
    check(it.init(m, arena, kArena, set) == CAPS_OK, "a loaded model that fits the arena fails init");
    const uint32_t n = m.input_size();
    float* x = it.input();
    for (uint32_t k = 0; k < n; ++k) x[k] = size ? static_cast<float>(data[k % size]) / 255.0f : 0.0f;
    check(it.invoke() == CAPS_OK, "invoke fails on a loaded model");
    check(it.output<float>(CAPS_TENSOR_SCORES) != nullptr && it.predicted_class() < m.num_classes(),
          "no scores after invoke");
    const caps_status s = it.reconstruct(-1);
    check(s == CAPS_OK || s == CAPS_ERR_UNSUPPORTED, "reconstruct fails on a loaded model");
    if (s == CAPS_OK) {
      check(it.output<float>(CAPS_TENSOR_RECONSTRUCTION) != nullptr, "no image after reconstruct");
      float pose[64] = {};
      check(it.reconstruct_pose(0, pose) == CAPS_OK, "reconstruct_pose fails");
    }
  }
}

}  // namespace fuzzcommon

#endif
