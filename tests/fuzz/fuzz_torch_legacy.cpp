// Fuzz target: capsconv's legacy torch.save reader (four pickles, then the storages), then float conversion of
// every tensor it returns.
#include "fuzz_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzcommon::read_and_convert(data, size, capsrt::conv::read_torch_legacy);
  return 0;
}
