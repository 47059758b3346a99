// safetensors: a little-endian u64 header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the data buffer, which the ranges must tile exactly.
#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "checkpoint.hpp"

namespace capsrt {
namespace conv {

namespace {

constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;  // the format's own limit
constexpr int kMaxSafetensorsDepth = 8;
constexpr size_t kMaxSafetensorsValues = size_t{1} << 20;
constexpr int64_t kMaxElements = int64_t{1} << 31;

struct DtypeInfo {
  const char* name;
  uint32_t size;
};

DtypeInfo safetensors_dtype(const std::string& s) {
  static const std::map<std::string, DtypeInfo> kMap = {
      {"F32", {"float32", 4}}, {"F16", {"float16", 2}}, {"BF16", {"bfloat16", 2}},
      {"F64", {"float64", 8}}, {"I64", {"int64", 8}},  {"I32", {"int32", 4}},
      {"I16", {"int16", 2}},   {"I8", {"int8", 1}},     {"U8", {"uint8", 1}},
      {"U16", {"uint16", 2}},  {"U32", {"uint32", 4}},  {"U64", {"uint64", 8}},
      {"BOOL", {"bool", 1}}};
  auto it = kMap.find(s);
  if (it == kMap.end()) return {nullptr, 0};
  return it->second;
}

bool recognises(const std::vector<uint8_t>& b) { return b.size() >= 9 && b[8] == '{'; }  // u64, then JSON

Checkpoint read(const FileBytes& file) {
  if (file->size() < 8) throw CheckpointError("safetensors file shorter than its 8-byte header length");
  uint64_t n;
  std::memcpy(&n, file->data(), 8);
  if (n > kMaxSafetensorsHeader || n > file->size() - 8)
    throw CheckpointError("safetensors header length " + std::to_string(n) + " is absurd for a " +
                          std::to_string(file->size()) + "-byte file");
  nlohmann::json header;
  // A header is an object of objects with short arrays: depth and value count are capped while
  // parsing, so a hostile header cannot nest deeply or expand into gigabytes of JSON values.
  size_t values = 0;
  const nlohmann::json::parser_callback_t limit = [&values](int depth, nlohmann::json::parse_event_t,
                                                             nlohmann::json&) {
    if (depth > kMaxSafetensorsDepth) throw CheckpointError("safetensors header nested too deeply");
    if (++values > kMaxSafetensorsValues)
      throw CheckpointError("safetensors header has more than " + std::to_string(kMaxSafetensorsValues) + " values");
    return true;
  };
  try {
    header = nlohmann::json::parse(file->begin() + 8, file->begin() + 8 + static_cast<long>(n), limit);
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw CheckpointError("safetensors header is not a JSON object");
  const uint64_t data_begin = 8 + n, data_size = file->size() - data_begin;
  Checkpoint ck;
  struct Span {
    uint64_t b, e;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& v = it.value();
    const std::string& name = it.key();
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets") ||
        !v["dtype"].is_string() || !v["shape"].is_array() || !v["data_offsets"].is_array() ||
        v["data_offsets"].size() != 2)
      throw CheckpointError("safetensors entry " + name + " lacks dtype, shape or data_offsets");
    RawTensor t;
    t.name = name;
    const std::string ds = v["dtype"].get<std::string>();
    const DtypeInfo di = safetensors_dtype(ds);
    if (!di.size) throw CheckpointError("tensor " + name + ": unsupported safetensors dtype " + ds);
    t.dtype = di.name;
    t.element_size = di.size;
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned() || d.get<uint64_t>() > uint64_t(kMaxElements))
        throw CheckpointError("tensor " + name + ": bad shape");
      t.shape.push_back(d.get<int64_t>());
      numel *= d.get<uint64_t>();
      if (numel > uint64_t(kMaxElements)) throw CheckpointError("tensor " + name + ": too many elements");
    }
    int64_t stride = 1;
    t.stride.assign(t.shape.size(), 0);
    for (size_t k = t.shape.size(); k-- > 0;) {
      t.stride[k] = stride;
      stride *= std::max<int64_t>(t.shape[k], 1);
    }
    const auto& off = v["data_offsets"];
    if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw CheckpointError("tensor " + name + ": data_offsets are not byte offsets");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      throw CheckpointError("tensor " + name + ": data_offsets [" + std::to_string(b) + ", " +
                            std::to_string(e) + "] outside the " + std::to_string(data_size) + "-byte data buffer");
    if (e - b != numel * di.size)
      throw CheckpointError("tensor " + name + ": data_offsets span " + std::to_string(e - b) +
                            " bytes, its shape and dtype need " + std::to_string(numel * di.size));
    t.bytes = file;
    t.region_begin = data_begin + b;
    t.region_size = e - b;
    spans.push_back({b, e, name});
    ck.tensors.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& x, const Span& y) { return x.b < y.b; });
  uint64_t expect = 0;
  for (const Span& s : spans) {
    if (s.b < expect) throw CheckpointError("tensor " + s.name + " overlaps the tensor before it in the data buffer");
    if (s.b > expect) throw CheckpointError("hole in the safetensors data buffer before tensor " + s.name);
    expect = s.e;
  }
  if (expect != data_size) throw CheckpointError("safetensors data buffer has " + std::to_string(data_size - expect) + " unused trailing bytes");
  // Keep file order stable: by offset, as the tensors sit in the file.
  std::stable_sort(ck.tensors.begin(), ck.tensors.end(),
                   [](const RawTensor& x, const RawTensor& y) { return x.region_begin < y.region_begin; });
  return ck;
}

}  // namespace

const CheckpointReader kSafetensorsReader = {"safetensors", recognises, read};

}  // namespace conv
}  // namespace capsrt
