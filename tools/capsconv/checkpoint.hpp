// Reading checkpoints: torch.save zip archives (torch >= 1.6, via libzip), the legacy torch.save
// stream (torch < 1.6), and safetensors (JSON header via nlohmann-json). All three produce the
// same thing: named tensors with dtype, shape, strides and their storage bytes. Nothing is
// trusted: every size, offset and stride is checked before a byte is read.
#ifndef CAPSRT_CAPSCONV_CHECKPOINT_HPP
#define CAPSRT_CAPSCONV_CHECKPOINT_HPP

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "pickle.hpp"

namespace capsrt {
namespace conv {

struct RawTensor {
  std::string name;
  std::string dtype;           // "float32", "float16", "bfloat16", "float64", "int64", ... or the
                               // file's own name for a dtype capsconv does not know
  uint32_t element_size = 0;   // 0 for an unknown dtype
  std::vector<int64_t> shape, stride;  // elements
  int64_t offset = 0;                  // elements from the start of the storage region
  std::shared_ptr<const std::vector<uint8_t>> bytes;  // file or storage bytes
  uint64_t region_begin = 0, region_size = 0;         // the storage region inside `bytes`
  std::string location;                               // "cpu", "cuda:0", ... (torch files)
};

struct Checkpoint {
  std::string format;   // "torch zip archive", "legacy torch.save file", "safetensors"
  std::string wrapper;  // key of the wrapper dict the tensors came from, or ""
  bool stripped_module_prefix = false;
  std::vector<RawTensor> tensors;      // file order
  std::vector<std::string> non_tensors;  // state_dict entries that are not tensors
  const RawTensor* find(const std::string& name) const;
};

// Reads and checks a checkpoint file; CheckpointError with the reason on any problem.
Checkpoint read_checkpoint(const std::string& path);
Checkpoint read_checkpoint(std::shared_ptr<const std::vector<uint8_t>> bytes);

// The readers read_checkpoint picks from (by the first bytes), for the fuzz targets. The legacy
// reader expects the file to start with its magic number; safetensors with its 8-byte length.
Checkpoint read_torch_zip(const std::shared_ptr<const std::vector<uint8_t>>& file);
Checkpoint read_torch_legacy(const std::shared_ptr<const std::vector<uint8_t>>& file);
Checkpoint read_safetensors(const std::shared_ptr<const std::vector<uint8_t>>& file);

// The tensor's values as contiguous float32 (float16, bfloat16 and float64 converted), after
// checking that offset + sum((size-1)*stride) lies inside the storage.
std::vector<float> to_float32(const RawTensor& t);

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace conv
}  // namespace capsrt

#endif
