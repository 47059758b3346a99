// The legacy torch.save stream (torch < 1.6): a magic number, then pickles of the protocol
// version, the system info, the object (storages as persistent ids), and the storage keys;
// then each storage as an int64 element count followed by its bytes.
#include <cstring>

#include "torch_state_dict.hpp"

namespace capsrt {
namespace conv {

namespace {

const uint8_t kLegacyMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e};

bool recognises(const std::vector<uint8_t>& b) {
  return b.size() >= sizeof kLegacyMagic && std::memcmp(b.data(), kLegacyMagic, sizeof kLegacyMagic) == 0;
}

Checkpoint read(const FileBytes& file) {
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
    StorageRef s = torch::parse_storage_pid(pid);
    declared[s.key] = s;
    return torch::storage_obj(s);
  };
  const PyRef top = unpickle(p + pos, file->size() - pos, load, &used);
  pos += used;
  const PyRef keys = unpickle(p + pos, file->size() - pos, none, &used);
  pos += used;
  if (keys->kind != PyKind::List) throw CheckpointError("legacy file: storage key list missing");
  torch::Storages storages;
  for (const PyRef& k : keys->items) {
    if (k->kind != PyKind::Str) throw CheckpointError("legacy file: a storage key is not a string");
    auto d = declared.find(k->text);
    if (d == declared.end()) throw CheckpointError("legacy file: storage " + k->text + " is not used by any tensor");
    const torch::DtypeInfo di = torch::storage_dtype(d->second.type);
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
  torch::collect_state_dict(top, storages, ck);
  return ck;
}

}  // namespace

const CheckpointReader kTorchLegacyReader = {"legacy torch.save file", recognises, read};

}  // namespace conv
}  // namespace capsrt
