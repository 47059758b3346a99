// Fuzz target: capsconv's torch.save zip reader (libzip, then the restricted unpickler on
// data.pkl and the storages it names), then float conversion of
// every tensor it returns.
#include "fuzz_checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzzcommon::read_and_convert(data, size, capsrt::conv::read_torch_zip);
  return 0;
}
