// A restricted unpickler for PyTorch checkpoints. It interprets a fixed set of opcodes and
// resolves only GLOBALs on an allow-list (OrderedDict, torch's tensor rebuild functions and
// storage types, a few harmless helpers); it never imports or executes anything. Anything else
// is refused with its name in the message. docs/capsconv.md lists what is accepted.
#ifndef CAPSRT_CAPSCONV_PICKLE_HPP
#define CAPSRT_CAPSCONV_PICKLE_HPP

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "checkpoint.hpp"  // CheckpointError

namespace capsrt {
namespace conv {

struct PyObj;
using PyRef = std::shared_ptr<PyObj>;

enum class PyKind {
  None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict,
  Global,   // an allow-listed callable or type: `text` is "module.name"
  Storage,  // a tensor storage from a persistent id
  Tensor,   // the result of torch._utils._rebuild_tensor(_v2)
  Ignored   // an object whose contents do not matter (e.g. an empty hooks dict)
};

struct StorageRef {
  std::string type;      // torch storage class, e.g. "FloatStorage"
  std::string key;       // archive entry name / legacy storage key
  std::string location;  // "cpu", "cuda:0", ...
  int64_t numel = 0;     // elements, as the persistent id states
  int64_t view_offset = 0;  // legacy storage views (pre-0.4 files)
};

struct TensorRef {
  PyRef storage;
  int64_t offset = 0;  // elements
  std::vector<int64_t> size, stride;
};

struct PyObj {
  PyKind kind = PyKind::None;
  int64_t i = 0;       // Bool, Int
  double f = 0;        // Float
  std::string text;    // Str, Bytes, Global
  std::vector<PyRef> items;                        // Tuple, List
  std::vector<std::pair<PyRef, PyRef>> entries;    // Dict, in insertion order
  StorageRef storage;
  TensorRef tensor;
  int depth = 0;       // nesting depth, bounded against hostile files
  bool held = false;   // stored in a container: no longer filled (pickle.cpp, adopt)

  PyObj() = default;
  PyObj(const PyObj&) = delete;
  PyObj& operator=(const PyObj&) = delete;
  ~PyObj();  // iterative: a deep object tree is freed without deep recursion
};

// Called for BINPERSID with the persistent id (a tuple); returns the object it stands for.
using PersistentLoad = std::function<PyRef(const PyRef& pid)>;

// Unpickles one pickle from data[0..size). `consumed` receives the bytes read up to STOP.
PyRef unpickle(const uint8_t* data, size_t size, const PersistentLoad& persistent_load,
               size_t* consumed = nullptr);

// For messages: a short rendering of a value ("dict with 3 keys", "'state_dict'", ...).
std::string describe(const PyRef& v);

}  // namespace conv
}  // namespace capsrt

#endif
