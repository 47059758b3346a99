#include "checkpoint.hpp"

#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

namespace capsrt {
namespace conv {

namespace {

// Limits (docs/reliability.md).
constexpr uint64_t kMaxEntryBytes = uint64_t{4} << 30;  // 4 GiB: far beyond any CapsNet
constexpr uint64_t kMaxPickleBytes = uint64_t{256} << 20;  // data.pkl of a state_dict: kilobytes
constexpr uint64_t kMaxSafetensorsHeader = 100u << 20;  // the format's own limit
constexpr int kMaxSafetensorsDepth = 8;
constexpr size_t kMaxSafetensorsValues = size_t{1} << 20;
constexpr int64_t kMaxElements = int64_t{1} << 31;

struct DtypeInfo {
  const char* name;
  uint32_t size;
};

// torch storage class -> dtype
DtypeInfo storage_dtype(const std::string& type) {
  static const std::map<std::string, DtypeInfo> kMap = {
      {"FloatStorage", {"float32", 4}}, {"HalfStorage", {"float16", 2}},
      {"BFloat16Storage", {"bfloat16", 2}}, {"DoubleStorage", {"float64", 8}},
      {"LongStorage", {"int64", 8}}, {"IntStorage", {"int32", 4}},
      {"ShortStorage", {"int16", 2}}, {"CharStorage", {"int8", 1}},
      {"ByteStorage", {"uint8", 1}}, {"BoolStorage", {"bool", 1}}};
  auto it = kMap.find(type);
  if (it == kMap.end()) return {nullptr, 0};
  return it->second;
}

// safetensors dtype string -> dtype
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

// --- state_dict extraction, shared by both torch formats ------------------------------------

bool has_tensor_values(const PyRef& d) {
  if (d->kind != PyKind::Dict) return false;
  for (const auto& kv : d->entries)
    if (kv.second->kind == PyKind::Tensor) return true;
  return false;
}

void collect_state_dict(const PyRef& top, Checkpoint& ck, const std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>>& storages) {
  if (top->kind != PyKind::Dict)
    throw CheckpointError("the checkpoint holds a " + describe(top) + ", not a dict of tensors");
  // The state_dict: the top-level dict, or the wrapper entry holding the most tensors (a training
  // checkpoint may keep an RNG state tensor beside {'model': state_dict, 'optimizer': ...}).
  auto tensor_count = [](const PyRef& d) {
    size_t n = 0;
    for (const auto& kv : d->entries) n += kv.second->kind == PyKind::Tensor;
    return n;
  };
  PyRef sd = has_tensor_values(top) ? top : nullptr;
  static const char* const kWrappers[] = {"state_dict", "model_state_dict", "model", "net",
                                          "network", "state", "weights"};
  for (const char* w : kWrappers)
    for (const auto& kv : top->entries)
      if (kv.first->kind == PyKind::Str && kv.first->text == w && has_tensor_values(kv.second) &&
          (!sd || tensor_count(kv.second) > tensor_count(sd))) {
        sd = kv.second;
        ck.wrapper = w;
      }
  if (!sd) {
    std::string keys;
    for (const auto& kv : top->entries)
      if (kv.first->kind == PyKind::Str) keys += (keys.empty() ? "" : ", ") + kv.first->text;
    throw CheckpointError("no tensors found: the checkpoint is a dict with keys {" + keys +
                          "} and none of state_dict, model_state_dict, model, net holds tensors");
  }
  bool all_prefixed = true;
  for (const auto& kv : sd->entries) {
    if (kv.first->kind != PyKind::Str) throw CheckpointError("a state_dict key is not a string");
    if (kv.second->kind == PyKind::Tensor && kv.first->text.rfind("module.", 0) != 0) all_prefixed = false;
  }
  for (const auto& kv : sd->entries) {
    std::string name = kv.first->text;
    if (kv.second->kind != PyKind::Tensor) {
      ck.non_tensors.push_back(name);
      continue;
    }
    if (all_prefixed) name = name.substr(7);  // DataParallel's "module."
    const TensorRef& tr = kv.second->tensor;
    const StorageRef& s = tr.storage->storage;
    RawTensor t;
    t.name = name;
    const DtypeInfo di = storage_dtype(s.type);
    t.dtype = di.name ? di.name : "torch." + s.type;
    t.element_size = di.size;
    t.shape = tr.size;
    t.stride = tr.stride;
    t.offset = tr.offset + s.view_offset;
    t.location = s.location;
    auto it = storages.find(s.key);
    if (it == storages.end()) throw CheckpointError("tensor " + name + ": storage '" + s.key + "' is missing");
    t.bytes = it->second;
    t.region_begin = 0;
    t.region_size = it->second->size();
    if (di.size && s.numel >= 0 && uint64_t(s.numel) * di.size > t.region_size)
      throw CheckpointError("tensor " + name + ": storage '" + s.key + "' should hold " +
                            std::to_string(s.numel) + " elements of " + std::to_string(di.size) +
                            " bytes but has " + std::to_string(t.region_size) + " bytes");
    if (di.size) t.region_size = std::min<uint64_t>(t.region_size, uint64_t(s.numel) * di.size);
    ck.tensors.push_back(std::move(t));
  }
  ck.stripped_module_prefix = all_prefixed && !ck.tensors.empty();
}

// The persistent id of a storage: ('storage', type, key, location, numel[, view_metadata]).
StorageRef parse_storage_pid(const PyRef& pid) {
  if (pid->kind != PyKind::Tuple || pid->items.size() < 5 || pid->items[0]->kind != PyKind::Str ||
      pid->items[0]->text != "storage")
    throw CheckpointError("unsupported persistent id (" + describe(pid) + ") in the pickle");
  const auto& it = pid->items;
  if (it[1]->kind != PyKind::Global || it[2]->kind != PyKind::Str || it[3]->kind != PyKind::Str ||
      it[4]->kind != PyKind::Int || it[4]->i < 0)
    throw CheckpointError("malformed storage record in the pickle");
  StorageRef s;
  s.type = it[1]->text.substr(it[1]->text.rfind('.') + 1);
  if (it[1]->text.rfind("torch.", 0) != 0 || s.type.size() < 7)
    throw CheckpointError("storage type '" + it[1]->text + "' is not a torch storage");
  s.key = it[2]->text;
  s.location = it[3]->text;
  s.numel = it[4]->i;
  if (it.size() >= 6 && it[5]->kind == PyKind::Tuple && it[5]->items.size() >= 2 &&
      it[5]->items[1]->kind == PyKind::Int) {  // legacy storage view: (view_key, offset, size)
    s.view_offset = it[5]->items[1]->i;
    if (it[5]->items[0]->kind == PyKind::Str) s.key = it[5]->items[0]->text;
  }
  return s;
}

PyRef storage_obj(const StorageRef& s) {
  auto o = std::make_shared<PyObj>();
  o->kind = PyKind::Storage;
  o->storage = s;
  return o;
}

// --- torch zip archive ---------------------------------------------------------------------

struct ZipArchive {
  zip_t* z = nullptr;
  ~ZipArchive() {
    if (z) zip_discard(z);
  }
};

// An entry's bytes, read in chunks as they come out of the archive: the central directory's
// stated size is only a claim (a 741-byte file may state 4 GiB), so memory grows with the data
// actually inflated (deflate expands at most about 1032:1) and never past `cap`, the size the
// caller expects (for a storage: numel x element size from its pickle record).
std::vector<uint8_t> read_entry(zip_t* z, zip_int64_t index, const std::string& name, uint64_t cap) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(z, static_cast<zip_uint64_t>(index), 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE))
    throw CheckpointError("zip entry " + name + ": cannot read its size: " + zip_strerror(z));
  if (st.size > cap)
    throw CheckpointError("zip entry " + name + " claims " + std::to_string(st.size) +
                          " bytes, more than the " + std::to_string(cap) + " it may hold");
  zip_file_t* f = zip_fopen_index(z, static_cast<zip_uint64_t>(index), 0);
  if (!f) throw CheckpointError("zip entry " + name + ": " + zip_strerror(z));
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<uint8_t> out;
  std::string err;
  // Read up to one byte past the stated size: EOF there is what makes libzip check the CRC.
  for (;;) {
    const size_t have = out.size();
    const uint64_t want = std::min<uint64_t>(kChunk, st.size + 1 - have);
    out.resize(have + static_cast<size_t>(want));
    const zip_int64_t got = zip_fread(f, out.data() + have, want);
    if (got < 0) {
      err = zip_file_strerror(f);
      out.resize(have);
      break;
    }
    out.resize(have + static_cast<size_t>(got));
    if (got == 0 || out.size() > st.size) break;
  }
  zip_fclose(f);
  if (!err.empty()) throw CheckpointError("zip entry " + name + ": " + err);
  if (out.size() > st.size) throw CheckpointError("zip entry " + name + ": entry longer than its stated size");
  if (out.size() != st.size)
    throw CheckpointError("zip entry " + name + ": stated size " + std::to_string(st.size) +
                          " bytes, but only " + std::to_string(out.size()) + " could be read");
  return out;
}

}  // namespace

Checkpoint read_torch_zip(const std::shared_ptr<const std::vector<uint8_t>>& file) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* src = zip_source_buffer_create(file->data(), file->size(), 0, &err);
  if (!src) throw CheckpointError(std::string("zip: ") + zip_error_strerror(&err));
  ZipArchive ar;
  ar.z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &err);
  if (!ar.z) {
    const std::string msg = zip_error_strerror(&err);
    zip_source_free(src);
    zip_error_fini(&err);
    throw CheckpointError("not a readable zip archive (truncated or damaged?): " + msg);
  }
  const zip_int64_t n = zip_get_num_entries(ar.z, 0);
  if (n <= 0) throw CheckpointError("empty zip archive");
  std::map<std::string, zip_int64_t> entries;
  for (zip_int64_t k = 0; k < n; ++k) {
    const char* name = zip_get_name(ar.z, static_cast<zip_uint64_t>(k), ZIP_FL_ENC_RAW);
    if (!name) throw CheckpointError(std::string("zip: ") + zip_strerror(ar.z));
    entries[name] = k;
  }
  const std::string first = zip_get_name(ar.z, 0, ZIP_FL_ENC_RAW);
  const size_t slash = first.find('/');
  if (slash == std::string::npos) throw CheckpointError("zip archive without torch's folder layout (entry " + first + ")");
  const std::string prefix = first.substr(0, slash + 1);
  const auto code = entries.lower_bound(prefix + "code/");
  const bool has_code = code != entries.end() && code->first.rfind(prefix + "code/", 0) == 0;
  if (entries.count(prefix + "constants.pkl") || has_code)
    throw CheckpointError("this is a TorchScript archive (torch.jit.save), not a state_dict: "
                          "save model.state_dict() with torch.save instead");
  auto pkl = entries.find(prefix + "data.pkl");
  if (pkl == entries.end()) throw CheckpointError("zip archive has no " + prefix + "data.pkl: not a torch.save file");
  const std::vector<uint8_t> pickle = read_entry(ar.z, pkl->second, pkl->first, kMaxPickleBytes);

  std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> storages;
  const PersistentLoad load = [&](const PyRef& pid) {
    StorageRef s = parse_storage_pid(pid);
    if (!storages.count(s.key)) {
      const std::string name = prefix + "data/" + s.key;
      auto e = entries.find(name);
      if (e == entries.end()) throw CheckpointError("storage " + name + " is missing from the archive");
      // The record says how large the storage is: no more is read (unknown dtypes, which no
      // conversion uses, are held to the general cap).
      const DtypeInfo di = storage_dtype(s.type);
      uint64_t cap = kMaxEntryBytes;
      if (di.size != 0 && s.numel >= 0 && uint64_t(s.numel) <= kMaxEntryBytes / di.size)
        cap = uint64_t(s.numel) * di.size;
      storages[s.key] = std::make_shared<const std::vector<uint8_t>>(read_entry(ar.z, e->second, name, cap));
    }
    return storage_obj(s);
  };
  const PyRef top = unpickle(pickle.data(), pickle.size(), load);
  Checkpoint ck;
  ck.format = "torch zip archive";
  collect_state_dict(top, ck, storages);
  return ck;
}

// --- legacy torch.save (< 1.6) ------------------------------------------------------------

namespace {
const uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};
}  // namespace

Checkpoint read_torch_legacy(const std::shared_ptr<const std::vector<uint8_t>>& file) {
  if (file->size() < sizeof kLegacyMagic || std::memcmp(file->data(), kLegacyMagic, sizeof kLegacyMagic) != 0)
    throw CheckpointError("not a legacy torch.save file (magic number missing)");
  const uint8_t* p = file->data();
  size_t pos = sizeof kLegacyMagic, used = 0;
  const PersistentLoad none;
  const PyRef proto = unpickle(p + pos, file->size() - pos, none, &used);
  pos += used;
  if (proto->kind != PyKind::Int || proto->i != 1001)
    throw CheckpointError("legacy torch.save file with protocol " + describe(proto) + " (expected 1001)");
  const PyRef sys_info = unpickle(p + pos, file->size() - pos, none, &used);
  pos += used;
  for (const auto& kv : sys_info->entries)
    if (kv.first->kind == PyKind::Str && kv.first->text == "little_endian" && kv.second->i == 0)
      throw CheckpointError("big-endian legacy checkpoints are not supported");
  std::map<std::string, StorageRef> declared;
  const PersistentLoad load = [&](const PyRef& pid) {
    StorageRef s = parse_storage_pid(pid);
    declared[s.key] = s;
    return storage_obj(s);
  };
  const PyRef top = unpickle(p + pos, file->size() - pos, load, &used);
  pos += used;
  const PyRef keys = unpickle(p + pos, file->size() - pos, none, &used);
  pos += used;
  if (keys->kind != PyKind::List) throw CheckpointError("legacy file: storage key list missing");
  std::map<std::string, std::shared_ptr<const std::vector<uint8_t>>> storages;
  for (const PyRef& k : keys->items) {
    if (k->kind != PyKind::Str) throw CheckpointError("legacy file: a storage key is not a string");
    auto d = declared.find(k->text);
    if (d == declared.end()) throw CheckpointError("legacy file: storage " + k->text + " is not used by any tensor");
    const DtypeInfo di = storage_dtype(d->second.type);
    if (!di.size) throw CheckpointError("unsupported tensor dtype torch." + d->second.type);
    if (file->size() - pos < 8) throw CheckpointError("legacy file truncated in storage " + k->text);
    int64_t numel;
    std::memcpy(&numel, p + pos, 8);
    pos += 8;
    if (numel < 0 || static_cast<uint64_t>(numel) > (file->size() - pos) / di.size)
      throw CheckpointError("legacy file: storage " + k->text + " claims " + std::to_string(numel) +
                            " elements, more than the file holds");
    const size_t n = static_cast<size_t>(numel) * di.size;
    storages[k->text] = std::make_shared<const std::vector<uint8_t>>(p + pos, p + pos + n);
    pos += n;
  }
  Checkpoint ck;
  ck.format = "legacy torch.save file";
  collect_state_dict(top, ck, storages);
  return ck;
}

// --- safetensors ---------------------------------------------------------------------------

Checkpoint read_safetensors(const std::shared_ptr<const std::vector<uint8_t>>& file) {
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
  ck.format = "safetensors";
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

namespace {

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

Checkpoint read_checkpoint(std::shared_ptr<const std::vector<uint8_t>> bytes) {
  const auto& b = *bytes;
  if (b.size() >= 4 && b[0] == 'P' && b[1] == 'K') return read_torch_zip(bytes);
  if (b.size() >= sizeof kLegacyMagic && std::memcmp(b.data(), kLegacyMagic, sizeof kLegacyMagic) == 0)
    return read_torch_legacy(bytes);
  if (b.size() >= 4 && b[0] == 0x89 && b[1] == 'H' && b[2] == 'D' && b[3] == 'F')
    throw CheckpointError("HDF5 (Keras .h5) checkpoints are not supported: export the weights to safetensors");
  if (b.size() >= 9 && b[8] == '{') return read_safetensors(bytes);  // u64 length, then JSON
  throw CheckpointError("unrecognised checkpoint format: not a torch.save archive (zip), a legacy "
                        "torch.save file, nor safetensors");
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
