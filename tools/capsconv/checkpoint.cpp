#include "checkpoint.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace capsrt {
namespace conv {

namespace {

constexpr int64_t kMaxElements = int64_t{1} << 31;

std::shared_ptr<std::vector<uint8_t>> slurp(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw CheckpointError("cannot open " + path + ": " + std::strerror(errno));
  auto out = std::make_shared<std::vector<uint8_t>>();
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out->insert(out->end(), buf, buf + n);
  const bool err = std::ferror(f);
  std::fclose(f);
  if (err) throw CheckpointError("cannot read " + path);
  return out;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float f;
  if (exp == 0) {
    f = std::ldexp(static_cast<float>(mant), -24);  // zero and subnormals
    return sign ? -f : f;
  }
  uint32_t bits;
  if (exp == 31) bits = sign | 0x7F800000u | (mant << 13);  // inf, nan
  else bits = sign | ((exp + 112) << 23) | (mant << 13);
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t k = 0; k < shape.size(); ++k) s += (k ? "," : "") + std::to_string(shape[k]);
  return s + "]";
}

const RawTensor* Checkpoint::find(const std::string& name) const {
  for (const RawTensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

Checkpoint read_with(const CheckpointReader& reader, const FileBytes& file) {
  Checkpoint ck = reader.read(file);
  ck.reader = &reader;
  return ck;
}

Checkpoint read_checkpoint(FileBytes bytes) {
  static const CheckpointReader* const kReaders[] = {&kTorchZipReader, &kTorchLegacyReader, &kSafetensorsReader,
                                                     &kKerasH5Reader};
  for (const CheckpointReader* r : kReaders)
    if (r->recognises(*bytes)) return read_with(*r, bytes);
  const auto& b = *bytes;
  if (b.size() >= 4 && b[0] == 0x89 && b[1] == 'H' && b[2] == 'D' && b[3] == 'F')
    throw CheckpointError("a damaged HDF5 file: it starts as one, but not with HDF5's whole 8-byte signature");
  std::string names;
  for (const CheckpointReader* r : kReaders) names += std::string(names.empty() ? "" : ", ") + r->format;
  throw CheckpointError("unrecognised checkpoint format: none of " + names);
}

Checkpoint read_checkpoint(const std::string& path) {
  try {
    return read_checkpoint(slurp(path));
  } catch (const CheckpointError& e) {
    throw CheckpointError(path + ": " + e.what());
  }
}

std::vector<float> to_float32(const RawTensor& t) {
  const std::string what = "tensor " + t.name;
  if (t.element_size == 0) throw CheckpointError(what + ": unsupported dtype " + t.dtype);
  if (t.dtype != "float32" && t.dtype != "float16" && t.dtype != "bfloat16" && t.dtype != "float64")
    throw CheckpointError(what + ": dtype " + t.dtype + " is not a floating-point weight");
  if (t.shape.size() != t.stride.size()) throw CheckpointError(what + ": size and stride differ in rank");
  if (t.offset < 0) throw CheckpointError(what + ": negative storage offset");
  int64_t numel = 1, last = t.offset;  // index of the last element read
  for (size_t k = 0; k < t.shape.size(); ++k) {
    if (t.shape[k] < 0 || t.stride[k] < 0) throw CheckpointError(what + ": negative size or stride");
    if (t.shape[k] == 0) numel = 0;
    else if (__builtin_mul_overflow(numel, t.shape[k], &numel) || numel > kMaxElements)
      throw CheckpointError(what + ": too many elements");
  }
  if (numel == 0) return {};
  for (size_t k = 0; k < t.shape.size(); ++k) {
    int64_t span;
    if (__builtin_mul_overflow(t.shape[k] - 1, t.stride[k], &span) || __builtin_add_overflow(last, span, &last))
      throw CheckpointError(what + ": stride overflows");
  }
  const uint64_t available = t.region_size / t.element_size;
  if (static_cast<uint64_t>(last) >= available)
    throw CheckpointError(what + ": storage offset " + std::to_string(t.offset) + " and strides " +
                          shape_string(t.stride) + " reach element " + std::to_string(last) +
                          " of a storage of " + std::to_string(available) + " elements");
  // Zero strides (expanded views) could make a tiny storage into gigabytes of floats.
  if (static_cast<uint64_t>(numel) > available)
    throw CheckpointError(what + ": " + std::to_string(numel) + " elements from a storage of " +
                          std::to_string(available) + " (zero strides are not supported)");
  std::vector<float> out(static_cast<size_t>(numel));
  const uint8_t* base = t.bytes->data() + t.region_begin;
  std::vector<int64_t> idx(t.shape.size(), 0);
  for (size_t n = 0; n < out.size(); ++n) {
    int64_t e = t.offset;
    for (size_t k = 0; k < idx.size(); ++k) e += idx[k] * t.stride[k];
    const uint8_t* src = base + static_cast<uint64_t>(e) * t.element_size;
    if (t.dtype == "float32") {
      std::memcpy(&out[n], src, 4);
    } else if (t.dtype == "float64") {
      double d;
      std::memcpy(&d, src, 8);
      out[n] = static_cast<float>(d);
    } else {
      uint16_t h;
      std::memcpy(&h, src, 2);
      if (t.dtype == "float16") {
        out[n] = half_to_float(h);
      } else {  // bfloat16: the upper half of a float32
        const uint32_t bits = uint32_t{h} << 16;
        std::memcpy(&out[n], &bits, 4);
      }
    }
    for (size_t k = idx.size(); k-- > 0;) {  // row-major odometer
      if (++idx[k] < t.shape[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

}  // namespace conv
}  // namespace capsrt
