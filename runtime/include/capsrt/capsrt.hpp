// capsrt C++ API. Same contract as the C API in capsrt.h (which wraps these classes):
// no allocation, no exceptions; the caller owns the model bytes, the objects and the arena.
//
//   capsrt::Model model;
//   if (model.load(bytes, size) != CAPS_OK) ...            // validates everything, zero copy
//   alignas(64) static uint8_t arena[ARENA];               // >= model.arena_size()
//   capsrt::Interpreter it;
//   it.init(model, arena, sizeof arena);
//   it.set_input_u8(pixels, 28 * 28);
//   it.invoke();
//   it.predicted_class();
//   caps_tensor_view scores; it.tensor_view(CAPS_TENSOR_SCORES, &scores);  // either kind of model
//   const float* poses = it.output<float>(CAPS_TENSOR_POSES);             // a float model's
//   it.reconstruct(-1); it.output<float>(CAPS_TENSOR_RECONSTRUCTION);
#ifndef CAPSRT_CAPSRT_HPP
#define CAPSRT_CAPSRT_HPP

#include <cstddef>
#include <cstdint>

#include "capsrt/capsrt.h"

// The file's tables (runtime/internal/capsrt/file_format.h) and shapes (capsrt/ops.hpp) are not
// API types: the accessors below that use them serve the runtime and the tools, which include
// those internal headers; a program using the installed headers cannot call them.
struct caps_file_header;
struct caps_tensor_entry;
struct caps_op_entry;

namespace capsrt {

struct Shape;

inline const char* status_message(caps_status s) { return caps_status_message(s); }

class Model {
 public:
  // Validates the file in `data` (16-byte aligned, `size` bytes) and keeps a view on it.
  // On failure the model stays unloaded.
  caps_status load(const void* data, size_t size, uint32_t flags = 0);
  bool loaded() const { return bytes_ != nullptr; }

  // Arena bytes an interpreter needs with any kernel set this build can run (the largest);
  // arena_size_for: with one set (CAPS_KERNELS_*, also one this build cannot run) and
  // max_threads tasks per op (capsrt.h, caps_threading). 0 if not loaded or unknown.
  size_t arena_size() const { return loaded() ? arena_need_ : 0; }
  size_t arena_size_for(uint32_t kernels, uint32_t max_threads = 1) const;
  const caps_model_attributes& attributes() const { return attrs_; }
  uint32_t num_classes() const { return attrs_.num_classes; }
  uint32_t input_size() const;  // values in the input, C*H*W
  // An int8 model (docs/fixed-point.md): its outputs are read with the *_q accessors.
  bool quantized() const;
  const char* class_name(uint32_t index) const;  // NULL if out of range
  const char* description() const;               // "" when none

  // The file's tables, for the runtime and the tools (internal types: see above).
  const caps_file_header& header() const;
  uint32_t tensor_count() const;
  uint32_t op_count() const;
  caps_tensor_entry tensor(uint32_t id) const;  // id < tensor_count()
  caps_op_entry op(uint32_t index) const;       // index < op_count()
  Shape tensor_shape(uint32_t id) const;
  const char* tensor_name(uint32_t id) const;   // "" when unnamed
  const void* const_data(uint32_t id) const;    // const tensors only
  const uint8_t* bytes() const { return bytes_; }
  // Changes at every load() (also a failed one), process-wide unique: an interpreter keeps the
  // generation it was set up with and answers CAPS_ERR_NOT_READY once the model is reloaded.
  uint32_t generation() const { return generation_; }

 private:
  caps_status validate(const uint8_t* data, size_t size, uint32_t flags);
  caps_status validate_header(const uint8_t* data, size_t size, uint32_t flags);
  caps_status validate_attributes();
  caps_status validate_tensor(uint32_t id) const;
  caps_status validate_op(uint32_t k) const;
  caps_status validate_graph() const;
  caps_status check_string(uint32_t offset) const;
  const char* string_at(uint32_t offset) const;

  caps_file_header& header_mut();

  const uint8_t* bytes_ = nullptr;
  alignas(8) unsigned char header_[96] = {};  // a caps_file_header, copied at load
  caps_model_attributes attrs_{};
  uint32_t arena_need_ = 0;
  uint32_t generation_ = 0;  // 0: never loaded
};

struct PreparedOp;  // internal (runtime/src/ops/op_record.hpp)

class Interpreter {
 public:
  // `arena`: 16-byte aligned, at least model.arena_size_for(kernels) bytes (model.arena_size()
  // is enough for any set), owned by the caller and used only by this interpreter. `model` must
  // stay alive; if it is loaded again (with other bytes or the same), every call here answers
  // CAPS_ERR_NOT_READY (or NULL) until init is called again. Reloading while another thread
  // runs this interpreter is a data race, as for any object. `kernels`: CAPS_KERNELS_AUTO (caps_kernels_default()) or a set
  // caps_kernels_available() names; CAPS_ERR_UNSUPPORTED otherwise. Every op is prepared here,
  // once: its kernels, parameters and buffers.
  // `threading` (NULL: none; capsrt.h, caps_threading): the caller's parallel_for, which the
  // SIMD kernels then hand their tasks to; the arena must then hold
  // model.arena_size_for(kernels, max_threads). The results are the same bits with or without.
  caps_status init(const Model& model, void* arena, size_t arena_size,
                   uint32_t kernels = CAPS_KERNELS_AUTO, const caps_threading* threading = nullptr);
  uint32_t max_threads() const { return threading_.max_threads; }  // 1 without threads
  const Model* model() const { return live_model(); }  // NULL until init, or after a reload
  uint32_t kernels() const { return kernels_; }   // CAPS_KERNELS_* in use; 0 before init
  size_t arena_used() const { return arena_used_; }  // bytes of the arena this set uses
  size_t arena_size() const { return arena_size_; }  // bytes the caller gave to init

  // Input buffer inside the arena: input_channels*height*width floats, CHW (NULL for an int8
  // model: set_input quantises, set_input_u8 stores pixel - 128). Asking for it counts as giving
  // the input: the caller writes it in place before invoke.
  float* input();
  caps_status set_input(const float* data, size_t count);
  caps_status set_input_u8(const uint8_t* pixels, size_t count);
  // An int8 model's input, already quantised (the input view's scale and zero point); copied as
  // it is. CAPS_ERR_DTYPE for a float model.
  caps_status set_input_s8(const int8_t* data, size_t count);
  // The view of the input, scores, poses or reconstruction (CAPS_TENSOR_*; capsrt.h,
  // caps_tensor_view): dtype, shape, quantisation, data. The input's is writable and counts as
  // setting it.
  caps_status tensor_view(uint32_t which, caps_tensor_view* view);

  // The typed data of a view: `which`'s data when its dtype is T's (float: float32; int8_t;
  // int16_t: an int8 model's Q15 poses; int32_t: its Q15 scores), NULL when it is another dtype
  // or not ready (tensor_view's rules). For the input, use input() or tensor_view.
  template <typename T>
  const T* output(uint32_t which) const {
    caps_tensor_view v;
    return describe(which, &v) == CAPS_OK && v.dtype == dtype_of(static_cast<T*>(nullptr))
               ? static_cast<const T*>(v.data) : nullptr;
  }

  // The classifier ops. CAPS_ERR_NOT_READY until an input was given (set_input, set_input_u8, or
  // input(), whose pointer the caller writes through) since init.
  caps_status invoke();
  bool invoked() const { return invoked_ && live_model() != nullptr; }
  uint32_t predicted_class() const;  // either kind of model
  uint32_t pose_dim() const;

  // The per-op observer (capsrt.h, caps_op_event): fn is called before and after every op run,
  // and a non-zero return stops the run with CAPS_ERR_ABORTED. NULL removes it, and so does
  // init: set it after init. CAPS_ERR_NOT_READY before a successful init.
  caps_status set_observer(caps_observer_fn fn, void* user);

  // Decoder on the poses masked to `class_index` (-1: predicted); its image is then
  // output<float>(CAPS_TENSOR_RECONSTRUCTION), or output<int8_t> (pixel - 128) for an int8 model.
  caps_status reconstruct(int32_t class_index);
  // Decoder on a pose of the caller's (pose_dim() values) standing in for class `class_index`'s
  // capsule, as in the paper's figure of perturbed capsule dimensions: floats for a float model,
  // Q15 for an int8 one (CAPS_ERR_DTYPE for the other). Scores and poses are left as invoke()
  // made them.
  caps_status reconstruct_pose(uint32_t class_index, const float* pose);
  caps_status reconstruct_pose(uint32_t class_index, const int16_t* pose);
  // The same for a pose of the poses view's dtype, `count` values (the C API's).
  caps_status reconstruct_pose(uint32_t class_index, const void* pose, size_t count);

 private:
  static constexpr uint32_t dtype_of(const float*) { return CAPS_DTYPE_F32; }
  static constexpr uint32_t dtype_of(const int8_t*) { return CAPS_DTYPE_I8; }
  static constexpr uint32_t dtype_of(const int16_t*) { return CAPS_DTYPE_I16; }
  static constexpr uint32_t dtype_of(const int32_t*) { return CAPS_DTYPE_I32; }
  caps_status describe(uint32_t which, caps_tensor_view* view) const;  // tensor_view, read-only
  caps_status run_ops(uint32_t begin, uint32_t end, int32_t mask_class);
  bool observe(uint32_t k, const PreparedOp& op, uint32_t phase) const;  // false: stop
  float* activation(uint32_t id) const;  // an activation tensor's floats in the arena
  uint8_t* activation_bytes(uint32_t id) const;
  uint8_t* give_input();  // the input's bytes, given from now on: the outputs are stale
  // Runs the decoder with `pose` (pose_bytes bytes) in place of class_index's row of the poses.
  caps_status decode_pose(uint32_t class_index, const void* pose, size_t pose_bytes);
  // The model if init succeeded and it has not been reloaded since; NULL otherwise.
  const Model* live_model() const;

  const Model* model_ = nullptr;
  uint8_t* arena_ = nullptr;
  uint8_t* prepared_ = nullptr;  // op_count PreparedOp entries, in the arena
  size_t arena_used_ = 0;
  size_t arena_size_ = 0;
  uint32_t kernels_ = 0;
  uint32_t generation_ = 0;  // the model's generation at init
  bool invoked_ = false;
  bool reconstructed_ = false;  // the decoder ran since the last invoke
  bool has_input_ = false;  // an input was given since init
  caps_observer_fn observer_ = nullptr;
  void* observer_user_ = nullptr;
  caps_threading threading_{nullptr, nullptr, 1};  // the caller's threads (none: no hook, one task)
};

}  // namespace capsrt

#endif
