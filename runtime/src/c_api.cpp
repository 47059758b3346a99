// The C API: thin wrappers over Model and Interpreter living in caller-provided storage.
#include <new>

#include <cstring>

#include "capsrt/capsrt.h"
#include "capsrt/capsrt.hpp"
#include "kernel_set.h"

static_assert(sizeof(capsrt::Model) <= sizeof(caps_model), "caps_model storage too small");
static_assert(alignof(capsrt::Model) <= alignof(caps_model), "caps_model alignment");
static_assert(sizeof(capsrt::Interpreter) <= sizeof(caps_interpreter),
              "caps_interpreter storage too small");
static_assert(alignof(capsrt::Interpreter) <= alignof(caps_interpreter),
              "caps_interpreter alignment");

// The version CMake's project() states (the package's) is the header's.
static_assert(CAPSRT_VERSION_MAJOR == CAPSRT_PROJECT_VERSION_MAJOR &&
                  CAPSRT_VERSION_MINOR == CAPSRT_PROJECT_VERSION_MINOR &&
                  CAPSRT_VERSION_PATCH == CAPSRT_PROJECT_VERSION_PATCH,
              "capsrt.h's CAPSRT_VERSION_* and CMakeLists.txt's project VERSION differ");

namespace {
#define CAPSRT_STR2(x) #x
#define CAPSRT_STR(x) CAPSRT_STR2(x)
const caps_version_info kVersion = {
    CAPSRT_VERSION_MAJOR, CAPSRT_VERSION_MINOR, CAPSRT_VERSION_PATCH, CAPS_FORMAT_MAJOR,
    CAPS_FORMAT_MINOR, sizeof(caps_model), sizeof(caps_interpreter),
    CAPSRT_STR(CAPSRT_VERSION_MAJOR) "." CAPSRT_STR(CAPSRT_VERSION_MINOR) "." CAPSRT_STR(CAPSRT_VERSION_PATCH)};

// The C structs are storage for the C++ objects, constructed in place (no heap).
const capsrt::Model* as_model(const caps_model* m) {
  return reinterpret_cast<const capsrt::Model*>(m);
}
capsrt::Interpreter* as_it(caps_interpreter* i) { return reinterpret_cast<capsrt::Interpreter*>(i); }
const capsrt::Interpreter* as_it(const caps_interpreter* i) {
  return reinterpret_cast<const capsrt::Interpreter*>(i);
}
}  // namespace

extern "C" {

const caps_version_info* caps_version(void) { return &kVersion; }

caps_status caps_version_check(uint32_t header_version, size_t model_struct_size,
                               size_t interpreter_struct_size) {
  if (header_version / 10000 != CAPSRT_VERSION_MAJOR || model_struct_size != sizeof(caps_model) ||
      interpreter_struct_size != sizeof(caps_interpreter))
    return CAPS_ERR_VERSION_MISMATCH;
  return CAPS_OK;
}

caps_status caps_model_load(caps_model* model, const void* data, size_t size, uint32_t flags) {
  if (model == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  capsrt::Model* m = ::new (static_cast<void*>(model)) capsrt::Model();
  return m->load(data, size, flags);
}

size_t caps_model_arena_size(const caps_model* model) {
  return model == nullptr ? 0 : as_model(model)->arena_size();
}

const caps_model_attributes* caps_model_attributes_get(const caps_model* model) {
  if (model == nullptr || !as_model(model)->loaded()) return nullptr;
  return &as_model(model)->attributes();
}

const char* caps_model_class_name(const caps_model* model, uint32_t index) {
  return model == nullptr ? nullptr : as_model(model)->class_name(index);
}

caps_status caps_interpreter_init(caps_interpreter* it, const caps_model* model, void* arena,
                                  size_t arena_size) {
  if (it == nullptr || model == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  capsrt::Interpreter* i = ::new (static_cast<void*>(it)) capsrt::Interpreter();
  return i->init(*as_model(model), arena, arena_size);
}

caps_status caps_interpreter_init_kernels(caps_interpreter* it, const caps_model* model,
                                          void* arena, size_t arena_size, uint32_t kernels) {
  if (it == nullptr || model == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  capsrt::Interpreter* i = ::new (static_cast<void*>(it)) capsrt::Interpreter();
  return i->init(*as_model(model), arena, arena_size, kernels);
}

caps_status caps_interpreter_init_threads(caps_interpreter* it, const caps_model* model, void* arena,
                                          size_t arena_size, uint32_t kernels,
                                          const caps_threading* threading) {
  if (it == nullptr || model == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  capsrt::Interpreter* i = ::new (static_cast<void*>(it)) capsrt::Interpreter();
  return i->init(*as_model(model), arena, arena_size, kernels, threading);
}

size_t caps_model_arena_size_threads(const caps_model* model, uint32_t kernels, uint32_t max_threads) {
  return model == nullptr ? 0 : as_model(model)->arena_size_for(kernels, max_threads);
}

uint32_t caps_interpreter_kernels(const caps_interpreter* it) {
  return it == nullptr ? 0 : as_it(it)->kernels();
}

size_t caps_model_arena_size_for(const caps_model* model, uint32_t kernels) {
  return model == nullptr ? 0 : as_model(model)->arena_size_for(kernels);
}

const char* caps_kernels_name(uint32_t kernels) {
  if (kernels == CAPS_KERNELS_AUTO) return "auto";
  const capsrt::kernels::KernelSet* ks = capsrt::kernels::kernel_set(kernels);
  return ks == nullptr ? nullptr : ks->name;
}

uint32_t caps_kernels_from_name(const char* name) {
  if (name == nullptr) return CAPS_KERNELS_COUNT;
  for (uint32_t id = 0; id < CAPS_KERNELS_COUNT; ++id)
    if (std::strcmp(caps_kernels_name(id), name) == 0) return id;
  return CAPS_KERNELS_COUNT;
}

int caps_kernels_available(uint32_t kernels) {
  if (kernels == CAPS_KERNELS_AUTO) return 1;
  return capsrt::kernels::kernel_set_runnable(kernels) ? 1 : 0;
}

uint32_t caps_kernels_default(void) { return capsrt::kernels::kernel_set_default(); }

caps_status caps_set_input_f32(caps_interpreter* it, const float* data, size_t count) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->set_input(data, count);
}

caps_status caps_set_input_u8(caps_interpreter* it, const uint8_t* pixels, size_t count) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->set_input_u8(pixels, count);
}

caps_status caps_get_tensor(caps_interpreter* it, uint32_t which, caps_tensor_view* view) {
  if (it == nullptr || view == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->tensor_view(which, view);
}

caps_status caps_set_input_s8(caps_interpreter* it, const int8_t* data, size_t count) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->set_input_s8(data, count);
}

caps_status caps_interpreter_set_observer(caps_interpreter* it, caps_observer_fn fn, void* user) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->set_observer(fn, user);
}

caps_status caps_invoke(caps_interpreter* it) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->invoke();
}

caps_status caps_get_predicted_class(const caps_interpreter* it, uint32_t* class_index) {
  if (it == nullptr || class_index == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (!as_it(it)->invoked()) return CAPS_ERR_NOT_READY;
  *class_index = as_it(it)->predicted_class();
  return CAPS_OK;
}

caps_status caps_reconstruct(caps_interpreter* it, int32_t class_index) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->reconstruct(class_index);
}

caps_status caps_reconstruct_pose(caps_interpreter* it, uint32_t class_index, const void* pose, size_t count) {
  if (it == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  return as_it(it)->reconstruct_pose(class_index, pose, count);
}

int caps_model_is_int8(const caps_model* model) {
  return model != nullptr && as_model(model)->quantized() ? 1 : 0;
}

}  // extern "C"
