// Fuzz target: the restricted unpickler alone, on raw pickle bytes, with a persistent-id
// handler that turns any tuple into a storage (as the torch readers do after their checks).
#include <memory>

#include "pickle.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace capsrt::conv;
  const PersistentLoad load = [](const PyRef& pid) {
    if (pid->kind != PyKind::Tuple) throw CheckpointError("persistent id is not a tuple");
    auto s = std::make_shared<PyObj>();
    s->kind = PyKind::Storage;
    return s;
  };
  try {
    size_t used = 0;
    const PyRef v = unpickle(data, size, load, &used);
    if (used > size) __builtin_trap();
    (void)describe(v);
  } catch (const CheckpointError&) {
  }
  return 0;
}
