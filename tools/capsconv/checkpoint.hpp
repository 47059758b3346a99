// A checkpoint, whatever file it came from: named tensors with dtype, shape, strides and their
// storage bytes, plus the reader's remarks for the log. One reader per file format sits behind
// the CheckpointReader interface (readers/*.cpp): torch.save zip archives (torch >= 1.6, via
// libzip), the legacy torch.save stream (torch < 1.6), and safetensors (JSON header via
// nlohmann-json). Nothing is trusted: every size, offset and stride is checked before a byte is
// read, by the reader and again by to_float32.
#ifndef CAPSRT_CAPSCONV_CHECKPOINT_HPP
#define CAPSRT_CAPSCONV_CHECKPOINT_HPP

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace capsrt {
namespace conv {

// Every problem with a checkpoint: the message is for the user and says what and where.
struct CheckpointError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

using FileBytes = std::shared_ptr<const std::vector<uint8_t>>;

struct RawTensor {
  std::string name;
  std::string file_name;  // the name in the file, when a conversion has renamed it (Keras)
  std::string dtype;           // "float32", "float16", "bfloat16", "float64", "int64", ... or the
                               // file's own name for a dtype capsconv does not know
  uint32_t element_size = 0;   // 0 for an unknown dtype
  std::vector<int64_t> shape, stride;  // elements
  int64_t offset = 0;                  // elements from the start of the storage region
  FileBytes bytes;                         // file or storage bytes
  uint64_t region_begin = 0, region_size = 0;  // the storage region inside `bytes`
};

struct CheckpointReader;

struct Checkpoint {
  const CheckpointReader* reader = nullptr;  // the reader that read it (k*Reader below); its
                                             // `format` names the file's format for the user
  std::vector<std::string> notes;   // what the reader did that the user should know, e.g.
                                    // "under 'state_dict'", "'module.' prefix removed"
  std::vector<RawTensor> tensors;   // file order
  std::vector<std::string> skipped;  // entries of the file that are not tensors
  std::string model_config;          // a full Keras model's JSON (model.save), else empty
  const RawTensor* find(const std::string& name) const;
};

// One file format. `recognises` looks at the first bytes only (it may be given fewer than the
// whole file); `read` checks everything and throws CheckpointError with the reason.
struct CheckpointReader {
  const char* format;
  bool (*recognises)(const std::vector<uint8_t>& file);
  Checkpoint (*read)(const FileBytes& file);
};

// The readers read_checkpoint tries, in order (readers/<format>.cpp each define one).
extern const CheckpointReader kTorchZipReader;
extern const CheckpointReader kTorchLegacyReader;
extern const CheckpointReader kSafetensorsReader;
extern const CheckpointReader kKerasH5Reader;

// Reads and checks a checkpoint file with the reader that recognises it.
Checkpoint read_checkpoint(const std::string& path);
Checkpoint read_checkpoint(FileBytes bytes);

// Reads with one reader, whatever the first bytes say (the fuzz targets and tests use these).
Checkpoint read_with(const CheckpointReader& reader, const FileBytes& file);
inline Checkpoint read_torch_zip(const FileBytes& f) { return read_with(kTorchZipReader, f); }
inline Checkpoint read_torch_legacy(const FileBytes& f) { return read_with(kTorchLegacyReader, f); }
inline Checkpoint read_safetensors(const FileBytes& f) { return read_with(kSafetensorsReader, f); }
inline Checkpoint read_keras_h5(const FileBytes& f) { return read_with(kKerasH5Reader, f); }

// The tensor's values as contiguous float32 (float16, bfloat16 and float64 converted), after
// checking that offset + sum((size-1)*stride) lies inside the storage.
std::vector<float> to_float32(const RawTensor& t);

std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace conv
}  // namespace capsrt

#endif
