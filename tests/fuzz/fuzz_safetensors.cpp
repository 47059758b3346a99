// Fuzz target: capsconv's safetensors reader (JSON header, then the data offsets), then float conversion of
// every tensor it returns.
#include "fuzz_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzcommon::read_and_convert(data, size, capsrt::conv::read_safetensors);
  return 0;
}
