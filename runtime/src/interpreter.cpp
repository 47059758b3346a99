// Interpreter: runs a validated model's ops on the caller's arena.
#include <cstring>
#include <new>

#include "arena_plan.hpp"
#include "capsrt/capsrt.hpp"
#include "capsrt/file_format.h"
#include "ops/op_record.hpp"

namespace capsrt {

caps_status Interpreter::init(const Model& model, void* arena, size_t arena_size,
                              uint32_t kernels, const caps_threading* threading) {
  model_ = nullptr;
  arena_ = nullptr;
  prepared_ = nullptr;
  arena_used_ = 0;
  arena_size_ = 0;
  kernels_ = 0;
  generation_ = 0;
  invoked_ = false;
  reconstructed_ = false;
  has_input_ = false;
  observer_ = nullptr;
  observer_user_ = nullptr;
  threading_ = caps_threading{nullptr, nullptr, 1};
  if (arena == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (threading != nullptr && (threading->max_threads < 1 || threading->max_threads > CAPS_MAX_THREADS))
    return CAPS_ERR_BAD_ARGUMENT;
  // Without a parallel_for there is one task per op, and the arena needs no room for more.
  const caps_threading threads = threading != nullptr && threading->parallel_for != nullptr
                                     ? *threading
                                     : caps_threading{nullptr, nullptr, 1};
  if (!model.loaded()) return CAPS_ERR_NOT_READY;
  if (reinterpret_cast<uintptr_t>(arena) % 16 != 0) return CAPS_ERR_MISALIGNED;
  if (kernels == CAPS_KERNELS_AUTO) kernels = kernels::kernel_set_default();
  if (!kernels::kernel_set_runnable(kernels)) return CAPS_ERR_UNSUPPORTED;
  const kernels::KernelSet& ks = *kernels::kernel_set(kernels);
  ArenaPlan plan;
  const int slots = static_cast<int>(threads.max_threads);
  caps_status s = plan_arena(model, ks, &plan, nullptr, slots);
  if (s != CAPS_OK) return s;
  if (arena_size < plan.total) return CAPS_ERR_ARENA_TOO_SMALL;
  // Prepare every op once, as the plan places its scratch; invoke then only calls the runners.
  struct Prepare {
    const Model* model;
    const kernels::KernelSet* ks;
    uint8_t* base;
    uint8_t* prepared;
    int threads;
    static void place(void* ctx, uint32_t k, uint32_t offset, uint32_t size) {
      const Prepare& c = *static_cast<const Prepare*>(ctx);
      caps_op_entry entry;
      OpView v = op_view(*c.model, k, &entry);
      v.threads = c.threads;
      const void* in[CAPS_MAX_OP_INPUTS] = {nullptr, nullptr, nullptr, nullptr};
      for (uint32_t slot = 0; slot < entry.n_inputs; ++slot) {
        const caps_tensor_entry t = c.model->tensor(entry.inputs[slot]);
        in[slot] = t.kind == CAPS_TENSOR_CONST ? c.model->bytes() + t.offset
                                                : static_cast<const void*>(c.base + t.offset);
      }
      void* out = c.base + c.model->tensor(entry.output).offset;
      void* scratch = size != 0 ? c.base + offset : nullptr;
      op_prepare(v, c.model->attributes(), *c.ks, in, out, scratch,
                 new (static_cast<void*>(c.prepared + k * kPreparedOpBytes)) PreparedOp);
    }
  };
  uint8_t* base = static_cast<uint8_t*>(arena);
  uint8_t* prepared = base + plan.prepared_offset;
  Prepare ctx{&model, &ks, base, prepared, slots};
  const ScratchSink sink{&Prepare::place, &ctx};
  if ((s = plan_arena(model, ks, &plan, &sink, slots)) != CAPS_OK) return s;  // the same plan again
  model_ = &model;
  arena_ = base;
  prepared_ = prepared;
  arena_used_ = static_cast<size_t>(plan.total);
  arena_size_ = arena_size;
  kernels_ = kernels;
  generation_ = model.generation();
  threading_ = threads;
  return CAPS_OK;
}

const Model* Interpreter::live_model() const {
  return model_ != nullptr && model_->generation() == generation_ && model_->loaded() ? model_
                                                                                       : nullptr;
}

float* Interpreter::activation(uint32_t id) const {
  return reinterpret_cast<float*>(arena_ + model_->tensor(id).offset);
}

uint8_t* Interpreter::activation_bytes(uint32_t id) const { return arena_ + model_->tensor(id).offset; }

uint8_t* Interpreter::give_input() {
  has_input_ = true;
  invoked_ = false;
  reconstructed_ = false;
  return activation_bytes(model_->attributes().input_tensor);
}

float* Interpreter::input() {
  if (live_model() == nullptr || model_->quantized()) return nullptr;
  return reinterpret_cast<float*>(give_input());  // the caller writes it in place
}

caps_status Interpreter::set_input(const float* data, size_t count) {
  if (data == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
#if !CAPSRT_FLOAT
  return CAPS_ERR_UNSUPPORTED;  // an int8-only build: pixels through set_input_u8
#else
  if (model_->quantized()) {
    // q = round(x / scale) + zero point, saturated: the input tensor's quantisation.
    const caps_tensor_entry t = model_->tensor(model_->attributes().input_tensor);
    int8_t* q = reinterpret_cast<int8_t*>(give_input());
    for (size_t n = 0; n < count; ++n) {
      float v = data[n] / t.quant_scale;
      v = v != v ? 0.0f : v;  // NaN
      const float r = v < -1e6f ? -1e6f : v > 1e6f ? 1e6f : v;
      const long w = static_cast<long>(r < 0 ? r - 0.5f : r + 0.5f) + t.quant_zero_point;
      q[n] = static_cast<int8_t>(w < -128 ? -128 : w > 127 ? 127 : w);
    }
    return CAPS_OK;
  }
  std::memcpy(input(), data, count * sizeof(float));
  return CAPS_OK;
#endif
}

caps_status Interpreter::set_input_u8(const uint8_t* pixels, size_t count) {
  if (pixels == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  if (model_->quantized()) {
    // The int8 input is pixel - 128 (its zero point carries the normalisation's offset).
    int8_t* q = reinterpret_cast<int8_t*>(give_input());
    for (size_t n = 0; n < count; ++n) q[n] = static_cast<int8_t>(int32_t{pixels[n]} - 128);
    return CAPS_OK;
  }
#if CAPSRT_FLOAT
  const float scale = model_->attributes().input_scale;
  const float offset = model_->attributes().input_offset;
  float* x = input();
  for (size_t n = 0; n < count; ++n) x[n] = static_cast<float>(pixels[n]) * scale + offset;
  return CAPS_OK;
#else
  return CAPS_ERR_UNSUPPORTED;  // unreachable: float models do not load here
#endif
}

caps_status Interpreter::set_observer(caps_observer_fn fn, void* user) {
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  observer_ = fn;
  observer_user_ = user;
  return CAPS_OK;
}

caps_status Interpreter::set_input_s8(const int8_t* data, size_t count) {
  if (data == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  if (!model_->quantized()) return CAPS_ERR_DTYPE;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  std::memcpy(give_input(), data, count);
  return CAPS_OK;
}

caps_status Interpreter::tensor_view(uint32_t which, caps_tensor_view* view) {
  const caps_status s = describe(which, view);
  if (s == CAPS_OK && which == CAPS_TENSOR_INPUT) give_input();  // the caller writes it in place
  return s;
}

caps_status Interpreter::describe(uint32_t which, caps_tensor_view* view) const {
  if (view == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  *view = caps_tensor_view{};
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  const caps_model_attributes& a = model_->attributes();
  uint32_t id = 0;
  switch (which) {
    case CAPS_TENSOR_INPUT: id = a.input_tensor; break;
    case CAPS_TENSOR_SCORES: id = a.scores_tensor; break;
    case CAPS_TENSOR_POSES:
      if (a.poses_tensor == CAPS_NONE) return CAPS_ERR_UNSUPPORTED;  // an EM model
      id = a.poses_tensor;
      break;
    case CAPS_TENSOR_RECONSTRUCTION:
      if (a.recon_tensor == CAPS_NONE) return CAPS_ERR_UNSUPPORTED;
      id = a.recon_tensor;
      break;
    default: return CAPS_ERR_BAD_ARGUMENT;
  }
  if (which != CAPS_TENSOR_INPUT && !invoked_) return CAPS_ERR_NOT_READY;
  if (which == CAPS_TENSOR_RECONSTRUCTION && !reconstructed_) return CAPS_ERR_NOT_READY;
  const caps_tensor_entry t = model_->tensor(id);
  view->dtype = t.dtype;
  view->rank = t.rank;
  view->count = 1;
  for (uint32_t d = 0; d < t.rank; ++d) {
    view->dims[d] = t.dims[d];
    view->count *= t.dims[d];
  }
  view->data = activation_bytes(id);
  // Float tensors, then the int8 path's fixed points (docs/fixed-point.md).
  view->scale = 1.0f;
  view->zero_point = 0;
  if (t.dtype != CAPS_DTYPE_F32) {
    if (which == CAPS_TENSOR_INPUT) {
      view->scale = t.quant_scale;
      view->zero_point = t.quant_zero_point;
    } else if (which == CAPS_TENSOR_RECONSTRUCTION) {
      view->scale = 1.0f / 255.0f;  // pixel - 128: (q + 128) / 255
      view->zero_point = -128;
    } else {
      view->scale = 1.0f / 32768.0f;  // Q15
    }
  }
  return CAPS_OK;
}

caps_status Interpreter::run_ops(uint32_t begin, uint32_t end, int32_t mask_class) {
  kernels::Parallel par;
  par.parallel_for = threading_.parallel_for;
  par.pool = threading_.pool;
  par.threads = static_cast<int>(threading_.max_threads);
  for (uint32_t k = begin; k < end; ++k) {
    const PreparedOp& op = *reinterpret_cast<const PreparedOp*>(prepared_ + k * kPreparedOpBytes);
    if (observer_ != nullptr && !observe(k, op, CAPS_OP_BEGIN)) return CAPS_ERR_ABORTED;
    op.run(op, mask_class, &par);
    if (observer_ != nullptr && !observe(k, op, CAPS_OP_END)) return CAPS_ERR_ABORTED;
  }
  return CAPS_OK;
}

bool Interpreter::observe(uint32_t k, const PreparedOp& op, uint32_t phase) const {
  caps_op_event e;
  e.phase = phase;
  e.index = k;
  e.opcode = op.opcode;
  e.reserved = 0;
  e.name = op_desc(op.opcode)->name;
  e.output_name = model_->tensor_name(op_output(*model_, k));
  e.macs = op.macs;
  return observer_(observer_user_, &e) == 0;
}

caps_status Interpreter::invoke() {
  if (live_model() == nullptr) {
    invoked_ = false;
    return CAPS_ERR_NOT_READY;
  }
  invoked_ = false;
  reconstructed_ = false;
  if (!has_input_) return CAPS_ERR_NOT_READY;
  // (An observer's stop leaves the outputs invalid until the next invoke.)
  const caps_status s = run_ops(0, model_->attributes().decoder_first_op, -1);
  invoked_ = s == CAPS_OK;
  return s;
}

uint32_t Interpreter::predicted_class() const {
  if (!invoked_ || live_model() == nullptr) return 0;
  const uint8_t* scores = activation_bytes(model_->attributes().scores_tensor);
  if (model_->quantized()) return first_max_index(reinterpret_cast<const int32_t*>(scores), model_->num_classes());
#if CAPSRT_FLOAT
  return first_max_index(reinterpret_cast<const float*>(scores), model_->num_classes());
#else
  return 0;
#endif
}

uint32_t Interpreter::pose_dim() const {
  if (live_model() == nullptr || model_->attributes().poses_tensor == CAPS_NONE) return 0;
  return model_->tensor_shape(model_->attributes().poses_tensor).dims[1];
}

caps_status Interpreter::reconstruct(int32_t class_index) {
  if (live_model() == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
  if (class_index < -1) return CAPS_ERR_BAD_ARGUMENT;
  reconstructed_ = false;
  const caps_status s = decode_pose(class_index < 0 ? 0 : static_cast<uint32_t>(class_index),
                                    nullptr, class_index < 0 ? SIZE_MAX : 0);
  reconstructed_ = s == CAPS_OK;
  return s;
}

caps_status Interpreter::reconstruct_pose(uint32_t class_index, const void* pose, size_t count) {
  if (pose == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
  if (count != pose_dim()) return CAPS_ERR_BAD_ARGUMENT;
  reconstructed_ = false;
  const size_t element = model_->quantized() ? sizeof(int16_t) : sizeof(float);
  const caps_status s = decode_pose(class_index, pose, count * element);
  reconstructed_ = s == CAPS_OK;
  return s;
}

caps_status Interpreter::reconstruct_pose(uint32_t class_index, const float* pose) {
  if (live_model() != nullptr && model_->quantized()) return CAPS_ERR_DTYPE;
  return reconstruct_pose(class_index, static_cast<const void*>(pose), pose_dim());
}

caps_status Interpreter::reconstruct_pose(uint32_t class_index, const int16_t* pose) {
  if (live_model() != nullptr && !model_->quantized()) return CAPS_ERR_DTYPE;
  return reconstruct_pose(class_index, static_cast<const void*>(pose), pose_dim());
}

// The decoder. pose == NULL: on the poses as invoke left them, masked to class_index, or to the
// predicted class when pose_bytes is SIZE_MAX. Otherwise `pose` stands in for class_index's row
// (pose_bytes bytes, at most 64 components of 4 bytes), which is restored afterwards.
caps_status Interpreter::decode_pose(uint32_t class_index, const void* pose, size_t pose_bytes) {
  const caps_model_attributes& attrs = model_->attributes();
  if (attrs.recon_tensor == CAPS_NONE) return CAPS_ERR_UNSUPPORTED;
  const bool predicted = pose == nullptr && pose_bytes == SIZE_MAX;
  if (!predicted && class_index >= attrs.num_classes) return CAPS_ERR_BAD_ARGUMENT;
  const int32_t mask_class = predicted ? -1 : static_cast<int32_t>(class_index);
  if (pose == nullptr) return run_ops(attrs.decoder_first_op, model_->op_count(), mask_class);
  uint8_t* row = activation_bytes(attrs.poses_tensor) + class_index * pose_bytes;
  uint8_t saved[64 * sizeof(float)];  // pose_dim <= 64, checked at load
  std::memcpy(saved, row, pose_bytes);
  std::memcpy(row, pose, pose_bytes);
  const caps_status s = run_ops(attrs.decoder_first_op, model_->op_count(), mask_class);
  std::memcpy(row, saved, pose_bytes);
  return s;
}

}  // namespace capsrt
