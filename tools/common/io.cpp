#include "io.hpp"

#include "capsrt/file_format.h"
#include "kernel_params.h"

#include <sys/stat.h>
#include <unistd.h>
#include <iostream>

#include <new>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iomanip>
#include <sstream>

namespace capsrt {
namespace tools {

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  const size_t rounded = static_cast<size_t>(kernels::align_up(size));
  void* p = std::aligned_alloc(64, rounded ? rounded : 64);
  if (p == nullptr) throw IoError("out of memory allocating " + std::to_string(size) + " bytes");
  std::memset(p, 0, rounded ? rounded : 64);
  ptr_.reset(static_cast<uint8_t*>(p));
}

void AlignedBuffer::Free::operator()(uint8_t* p) const { std::free(p); }

VerifiedModel load_verified(const std::vector<uint8_t>& bytes, uint32_t flags) {
  VerifiedModel v;
  v.bytes = AlignedBuffer(bytes.size());
  std::copy(bytes.begin(), bytes.end(), v.bytes.data());
  const caps_status st = v.model.load(v.bytes.data(), v.bytes.size(), flags);
  if (st != CAPS_OK) throw IoError(caps_status_message(st));
  return v;
}

std::string model_load_error(const std::string& path, caps_status st, const uint8_t* bytes,
                             size_t size) {
  std::string what = path + ": " + caps_status_message(st);
  if (st != CAPS_ERR_BAD_MAGIC) return what;
  auto starts = [&](const char* magic, size_t n) { return size >= n && std::memcmp(bytes, magic, n) == 0; };
  const char* kind = nullptr;
  if (starts("PK\x03\x04", 4)) {
    kind = "a PyTorch checkpoint (zip archive)";
  } else if (size >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5) {
    kind = "a PyTorch checkpoint (legacy pickle)";
  } else if (starts("\x89HDF\r\n\x1a\n", 8)) {
    kind = "an HDF5 file (a Keras checkpoint)";
  } else if (size >= 9 && bytes[8] == '{') {
    uint64_t header = 0;
    for (int k = 7; k >= 0; --k) header = header << 8 | bytes[k];
    if (header >= 2 && header <= size - 8) kind = "a safetensors checkpoint";
  }
  if (kind != nullptr)
    what += ": this looks like " + std::string(kind) +
            ", not a capsrt model; convert it first: capsconv " + path + " -o model.caps";
  return what;
}

uint32_t written_arena_size(const std::vector<uint8_t>& model) {
  caps_file_header h;
  if (model.size() < sizeof h) throw IoError("not a written model: " + std::to_string(model.size()) + " bytes");
  std::memcpy(&h, model.data(), sizeof h);
  return h.arena_size;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(std::ceil(q * v.size())) - (q > 0 ? 1 : 0));
  return v[k];
}

AlignedBuffer read_file(const std::string& path, uint64_t max_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw IoError("cannot open " + path + ": " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> guard(f, std::fclose);
  struct stat info;
  if (fstat(fileno(f), &info) == 0 && S_ISDIR(info.st_mode))
    throw IoError(path + " is a directory: give a file");
  if (std::fseek(f, 0, SEEK_END) != 0) throw IoError("cannot seek in " + path);
  const long size = std::ftell(f);
  if (size < 0) throw IoError("cannot read the size of " + path);
  if (static_cast<uint64_t>(size) > max_bytes)
    throw IoError(path + ": " + std::to_string(size) + " bytes, more than the " + std::to_string(max_bytes) +
                  " this file may have");
  std::rewind(f);
  AlignedBuffer buf(static_cast<size_t>(size));
  if (size > 0 && std::fread(buf.data(), 1, static_cast<size_t>(size), f) != static_cast<size_t>(size))
    throw IoError("cannot read " + path);
  return buf;
}

int guarded_main(const char* tool, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: out of memory\n", tool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", tool, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: unexpected error\n", tool);
  }
  return 1;
}

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) throw IoError("cannot create " + path + ": " + std::strerror(errno));
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) throw IoError("cannot write " + path);
}

namespace {
std::string with_commas(uint64_t v) {
  std::string s = std::to_string(v);
  for (int k = static_cast<int>(s.size()) - 3; k > 0; k -= 3) s.insert(static_cast<size_t>(k), ",");
  return s;
}
}  // namespace

void print_summary(std::ostream& out, const std::vector<OpReport>& report, const Model& m) {
  out << std::left << std::setw(16) << "layer" << std::setw(15) << "op" << std::setw(14) << "output"
      << std::right << std::setw(12) << "parameters" << std::setw(15) << "multiply-adds"
      << std::setw(14) << "weight bytes" << '\n';
  uint64_t params = 0, macs = 0, bytes = 0;
  for (const OpReport& r : report) {
    out << std::left << std::setw(16) << r.output << std::setw(15) << r.name << std::setw(14)
        << shape_str(r.output_shape) << std::right << std::setw(12) << with_commas(r.params)
        << std::setw(15) << with_commas(r.macs) << std::setw(14) << with_commas(r.weight_bytes) << '\n';
    params += r.params;
    macs += r.macs;
    bytes += r.weight_bytes;
  }
  out << std::left << std::setw(45) << "total" << std::right << std::setw(12) << with_commas(params)
      << std::setw(15) << with_commas(macs) << std::setw(14) << with_commas(bytes) << '\n';
  const caps_model_attributes& a = m.attributes();
  out << "input " << a.input_channels << "x" << a.input_height << "x" << a.input_width << ", pixel x "
      << a.input_scale << " + " << a.input_offset << "; photos preprocessed by the "
      << preprocess_name(static_cast<caps_input_preprocess>(a.input_preprocess)) << " rule (capsrun)\n";
  if (m.quantized())
    out << "int8 model: weights int8, biases and requantisation tables int32 (docs/fixed-point.md); "
        << "file " << with_commas(m.header().total_size) << " bytes\n";
  // Scratch belongs to the kernel set (the runtime places it at init): one column per set.
  out << "\n" << std::left << std::setw(29) << "scratch bytes per kernel set" << std::right;
  for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
    out << std::setw(12) << caps_kernels_name(ks);
  out << '\n';
  for (uint32_t k = 0; k < m.op_count(); ++k) {
    const caps_op_entry op = m.op(k);
    Shape in[CAPS_MAX_OP_INPUTS];
    uint8_t layouts[CAPS_MAX_OP_INPUTS] = {0, 0, 0, 0};
    for (uint32_t s = 0; s < op.n_inputs; ++s) {
      in[s] = m.tensor_shape(op.inputs[s]);
      layouts[s] = m.tensor(op.inputs[s]).layout;
    }
    std::ostringstream row;
    bool any = false;
    const bool quantized = m.tensor(op.inputs[0]).dtype != CAPS_DTYPE_F32;
    for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks) {
      const uint64_t b = op_scratch_for(op, in, layouts, m.tensor_shape(op.output), m.attributes(), ks,
                                        quantized);
      any = any || b > 0;
      row << std::setw(12) << with_commas(b);
    }
    if (any) out << std::left << std::setw(29) << m.tensor_name(op.output) << std::right << row.str() << '\n';
  }
  out << std::left << std::setw(29) << "arena" << std::right;
  for (uint32_t ks = CAPS_KERNELS_REFERENCE; ks < CAPS_KERNELS_COUNT; ++ks)
    out << std::setw(12) << with_commas(m.arena_size_for(ks));
  out << '\n';
  out << "arena: " << with_commas(m.header().arena_size)
      << " bytes (activations, scratch and prepared ops; the largest over the kernel sets, as the "
         "file records it)\n";
}

const char* preprocess_name(caps_input_preprocess rule) {
  switch (rule) {
    case CAPS_PREPROCESS_NONE: return "none";
    case CAPS_PREPROCESS_MNIST: return "mnist";
    case CAPS_PREPROCESS_FASHION_MNIST: return "fashion-mnist";
  }
  return "unknown";
}

bool parse_preprocess(const std::string& name, caps_input_preprocess* rule) {
  for (caps_input_preprocess r : {CAPS_PREPROCESS_NONE, CAPS_PREPROCESS_MNIST, CAPS_PREPROCESS_FASHION_MNIST})
    if (name == preprocess_name(r)) {
      *rule = r;
      return true;
    }
  return false;
}

void progress_bar(std::ostream& out, const char* label, uint64_t done, uint64_t total) {
  if (total == 0) return;
  const int pct = static_cast<int>(100 * done / total);
  if (isatty(2) && &out == &std::cerr) {
    const int bar = pct * 30 / 100;
    out << '\r' << "  " << label << " [" << std::string(static_cast<size_t>(bar), '=')
        << std::string(static_cast<size_t>(30 - bar), ' ') << "] " << done << '/' << total << ' '
        << pct << '%' << (done == total ? "\n" : "") << std::flush;
  } else if (done == total || (done > 0 && 10 * done / total != 10 * (done - 1) / total)) {
    out << "  " << label << ' ' << done << '/' << total << " (" << pct << "%)\n";
  }
}

}  // namespace tools
}  // namespace capsrt
