// Running a model over many inputs on several threads: one Interpreter and arena per thread over
// one shared Model (the runtime's threading contract).
#ifndef CAPSRT_CAPSRUN_EVALUATE_HPP
#define CAPSRT_CAPSRUN_EVALUATE_HPP

#include <cstdint>
#include <functional>
#include <vector>

#include "capsrt/capsrt.hpp"
#include "io.hpp"
#include "threads.hpp"

namespace capsrt {
namespace tools {

// `count` inputs of model.input_size() values each: pixels (0..255, CHW; the model's input scale
// and offset apply), or, when f32 is set, the network's input values themselves.
struct InputBatch {
  const uint8_t* u8 = nullptr;
  const float* f32 = nullptr;
  size_t count = 0;
};

// One interpreter with its own arena over a shared model, and its own pool of intra_threads
// threads inside each op (common/threads.hpp; 1: none).
struct Session {
  const Model& model;
  IntraOpThreads pool;
  AlignedBuffer arena;
  Interpreter it;
  // `kernels`: the CAPS_KERNELS_* set the interpreter runs (AUTO: the best here).
  Session(const Model& m, uint32_t kernels, unsigned intra_threads = 1);
  // set_input_u8 + invoke on one input of model.input_size() bytes; IoError on failure.
  void classify(const uint8_t* input);
  // Input k of `batch` (set_input for float values: an int8 model quantises them).
  void classify(const InputBatch& batch, size_t k);
  // The outputs as floats, for either kind of model: read through the tensor views and
  // dequantised with their scale and zero point (an int8 model's Q15 scores and poses, its
  // pixel - 128 reconstruction as 0..1).
  float score(uint32_t c);
  std::vector<float> pose(uint32_t c);
  std::vector<float> reconstruct(int32_t c);                            // -1: predicted class
  std::vector<float> reconstruct_pose(uint32_t c, const std::vector<float>& pose);
};

struct RunResult {
  std::vector<uint32_t> predicted;    // per input
  std::vector<float> top_score;       // per input
  std::vector<double> latency_ms;     // per input: set_input + invoke
  double wall_seconds = 0;
};

// Classifies the inputs of `batch` on `threads` sessions of `intra_threads` threads each.
// `progress(done)` is called from the calling thread about five times a second. Throws IoError if
// an invoke fails.
RunResult run_all(const Model& model, uint32_t kernels, const InputBatch& batch, int threads,
                  unsigned intra_threads, const std::function<void(size_t)>& progress);

}  // namespace tools
}  // namespace capsrt

#endif
