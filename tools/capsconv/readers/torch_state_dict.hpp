// What the two torch.save readers share: the storage classes, the persistent ids that name
// storages in the pickle, and finding the state_dict in the unpickled object (a bare dict, or
// one entry of a training checkpoint's wrapper dict).
#ifndef CAPSRT_CAPSCONV_READERS_TORCH_STATE_DICT_HPP
#define CAPSRT_CAPSCONV_READERS_TORCH_STATE_DICT_HPP

#include <map>
#include <string>

#include "checkpoint.hpp"
#include "pickle.hpp"

namespace capsrt {
namespace conv {
namespace torch {

struct DtypeInfo {
  const char* name;  // nullptr: unknown
  uint32_t size;
};

// torch storage class ("FloatStorage", ...) -> dtype
DtypeInfo storage_dtype(const std::string& type);

// The persistent id of a storage: ('storage', type, key, location, numel[, view_metadata]).
StorageRef parse_storage_pid(const PyRef& pid);
PyRef storage_obj(const StorageRef& s);

// The storages' bytes, by key.
using Storages = std::map<std::string, FileBytes>;

// Fills ck.tensors (and ck.skipped, ck.notes) from the unpickled top-level object.
void collect_state_dict(const PyRef& top, const Storages& storages, Checkpoint& ck);

}  // namespace torch
}  // namespace conv
}  // namespace capsrt

#endif
