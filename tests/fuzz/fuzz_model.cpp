// Fuzz target: the model loader on raw .caps bytes, then (for a model that loads) setup, one
// invoke and the decoder, on every kernel set this machine runs, with a 16 MiB arena.
// Invariants beyond "no crash": a loaded model's tensors cover their elements within the buffer
// bound, and a model that loads and fits the arena also runs (invoke never fails).
#include <cstdlib>
#include <cstring>

#include "capsrt/capsrt.hpp"
#include "fuzz_common.hpp"
#include "model_shapes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzcommon::Aligned buf(data, size);
  capsrt::Model m;
  if (m.load(buf.data(), size) != CAPS_OK &&
      m.load(buf.data(), size, CAPS_LOAD_SKIP_CHECKSUM) != CAPS_OK)
    return 0;
  fuzzcommon::check(fuzzgen::loaded_model_is_sane(m), "a loaded model's tensor outgrows its bytes");
  fuzzcommon::run_model(m, data, size, 2000000);
  return 0;
}
