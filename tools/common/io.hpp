// Small I/O helpers shared by the tools.
#ifndef CAPSRT_TOOLS_IO_HPP
#define CAPSRT_TOOLS_IO_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "capsrt/capsrt.hpp"
#include "model_writer.hpp"

namespace capsrt {
namespace tools {

struct IoError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A 64-byte aligned byte buffer (model files and arenas need 16-byte alignment at least).
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size);
  uint8_t* data() { return ptr_.get(); }
  const uint8_t* data() const { return ptr_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> ptr_;
  size_t size_ = 0;
};

// A model file's bytes in an aligned buffer, and the model loaded from them (a view on `bytes`,
// whose address does not change when the struct is moved).
struct VerifiedModel {
  AlignedBuffer bytes;
  Model model;
};
// Copies `bytes` (a model the writer made) into an aligned buffer, since a std::vector's buffer
// is only 8-byte aligned on 32-bit hosts, and loads it with `flags`; IoError with the runtime's
// message when it refuses the file.
VerifiedModel load_verified(const std::vector<uint8_t>& bytes, uint32_t flags = 0);

// What to tell a user whose file `path` (its bytes) the runtime refused with `st`: the status's
// message, and for a file that is not a model at all but a checkpoint (PyTorch zip or legacy
// pickle, safetensors, Keras HDF5), what it is and that capsconv converts it.
std::string model_load_error(const std::string& path, caps_status st, const uint8_t* bytes,
                             size_t size);

// The arena size the header of a model the writer made records (the largest over the kernel
// sets), read from its bytes: the writer has loaded and checked the file already.
uint32_t written_arena_size(const std::vector<uint8_t>& model);

// A tool's main: runs `run` and turns any exception that escaped it (out of memory included)
// into a message on stderr and exit status 1, so that no input ends a tool with an abort.
int guarded_main(const char* tool, int (*run)(int, char**), int argc, char** argv);

// Whole file into an aligned buffer; IoError with the path and reason on failure, or if the
// file is larger than max_bytes.
AlignedBuffer read_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

// The per-op table (layer, output shape, parameters, multiply-adds, weight bytes) with totals,
// the scratch each op needs with each kernel set, the arena per kernel set, and the arena the
// file records (the largest), for the loaded model `m` that `report` describes.
void print_summary(std::ostream& out, const std::vector<OpReport>& report, const Model& m);
// The names of the photo preprocessing rules (caps_input_preprocess; docs/capsrun.md): "none",
// "mnist", "fashion-mnist". parse_preprocess is false for any other name.
const char* preprocess_name(caps_input_preprocess rule);
bool parse_preprocess(const std::string& name, caps_input_preprocess* rule);

// The q-quantile of `v` (0 <= q <= 1) by the nearest rank: the median of timings is
// percentile(v, 0.5). 0 for no values.
double percentile(std::vector<double> v, double q);

// A progress line on `out` (a terminal: one bar redrawn in place; else a line per 10%).
void progress_bar(std::ostream& out, const char* label, uint64_t done, uint64_t total);

}  // namespace tools
}  // namespace capsrt

#endif
