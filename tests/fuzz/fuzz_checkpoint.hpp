// Shared by the checkpoint fuzz targets: run a reader on the bytes, then convert every float
// tensor it returns (that is where shapes, strides and offsets are used). Readers may only
// throw CheckpointError; anything else escapes and is reported as a crash.
#ifndef CAPSRT_TESTS_FUZZ_CHECKPOINT_HPP
#define CAPSRT_TESTS_FUZZ_CHECKPOINT_HPP

#include <memory>
#include <vector>

#include "checkpoint.hpp"

namespace fuzzcommon {

template <typename Reader>
void read_and_convert(const uint8_t* data, size_t size, Reader reader) {
  auto bytes = std::make_shared<const std::vector<uint8_t>>(data, data + size);
  capsrt::conv::Checkpoint ck;
  try {
    ck = reader(bytes);
  } catch (const capsrt::conv::CheckpointError&) {
    return;
  }
  for (const capsrt::conv::RawTensor& t : ck.tensors) {
    try {
      (void)capsrt::conv::to_float32(t);
    } catch (const capsrt::conv::CheckpointError&) {
    }
  }
}

}  // namespace fuzzcommon

#endif
