// Fuzz target: models with extreme shapes from the structure-aware generator (model_shapes.hpp),
// loaded without the checksum; those that load are checked against the buffer bound and run
// when their arena and work are small (100 k multiply-adds: running ordinary models is the
// model target's work, this one is about sizes).
#include "capsrt/capsrt.hpp"
#include "fuzz_common.hpp"
#include "model_shapes.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzgen::GeneratedModel g;
  if (!fuzzgen::generate_model(data, size, &g)) return 0;
  capsrt::Model m;
  if (m.load(g.bytes, g.size, CAPS_LOAD_SKIP_CHECKSUM) != CAPS_OK) return 0;
  fuzzcommon::check(fuzzgen::loaded_model_is_sane(m), "a loaded model's tensor outgrows its bytes");
  fuzzcommon::run_model(m, data, size, 100000);
  return 0;
}
