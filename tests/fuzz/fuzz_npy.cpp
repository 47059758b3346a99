// Fuzz target: the .npy reader (capsrun's array inputs, tools/common/npy.cpp) on the raw bytes:
// a refused file must be an IoError, an accepted one must hold as many elements as its shape.
#include "fuzz_common.hpp"
#include "io.hpp"
#include "npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::tools;
  try {
    const NpyArray a = parse_npy(data, size, "fuzz.npy");
    const uint64_t held = a.dtype == NpyArray::DType::U8 ? a.u8.size() : a.f32.size();
    fuzzcommon::check(held == a.count() && held > 0, "a .npy array holds other than its shape's elements");
    (void)npy_describe(a);
  } catch (const IoError&) {
  }
  return 0;
}
