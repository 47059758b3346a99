#include "torch_state_dict.hpp"

#include <algorithm>
#include <set>

namespace capsrt {
namespace conv {
namespace torch {

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

namespace {

size_t tensor_count(const PyRef& d) {
  if (d->kind != PyKind::Dict) return 0;
  size_t n = 0;
  for (const auto& kv : d->entries) n += kv.second->kind == PyKind::Tensor;
  return n;
}

}  // namespace

void collect_state_dict(const PyRef& top, const Storages& storages, Checkpoint& ck) {
  if (top->kind != PyKind::Dict)
    throw CheckpointError("the checkpoint holds a " + describe(top) + ", not a dict of tensors");
  // The state_dict: the top-level dict, or the wrapper entry holding the most tensors (a training
  // checkpoint may keep an RNG state tensor beside {'model': state_dict, 'optimizer': ...}).
  PyRef sd = tensor_count(top) ? top : nullptr;
  std::string wrapper;
  static const char* const kWrappers[] = {"state_dict", "model_state_dict", "model", "net",
                                          "network", "state", "weights"};
  for (const char* w : kWrappers)
    for (const auto& kv : top->entries)
      if (kv.first->kind == PyKind::Str && kv.first->text == w && tensor_count(kv.second) &&
          (!sd || tensor_count(kv.second) > tensor_count(sd))) {
        sd = kv.second;
        wrapper = w;
      }
  if (!sd) {
    std::string keys;
    for (const auto& kv : top->entries)
      if (kv.first->kind == PyKind::Str) keys += (keys.empty() ? "" : ", ") + kv.first->text;
    throw CheckpointError("no tensors found: the checkpoint is a dict with keys {" + keys +
                          "} and none of state_dict, model_state_dict, model, net holds tensors");
  }
  if (!wrapper.empty()) ck.notes.push_back("under '" + wrapper + "'");
  bool all_prefixed = true;
  for (const auto& kv : sd->entries) {
    if (kv.first->kind != PyKind::Str) throw CheckpointError("a state_dict key is not a string");
    if (kv.second->kind == PyKind::Tensor && kv.first->text.rfind("module.", 0) != 0) all_prefixed = false;
  }
  std::set<std::string> devices;  // where the storages were saved from, other than the CPU
  for (const auto& kv : sd->entries) {
    std::string name = kv.first->text;
    if (kv.second->kind != PyKind::Tensor) {
      ck.skipped.push_back(name);
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
    if (s.location != "cpu") devices.insert(s.location);
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
  if (all_prefixed && !ck.tensors.empty()) ck.notes.push_back("'module.' prefix removed");
  for (const std::string& d : devices) ck.notes.push_back("saved on " + d + ", read as CPU tensors");
}

}  // namespace torch
}  // namespace conv
}  // namespace capsrt
