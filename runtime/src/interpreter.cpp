// Interpreter: runs a validated model's ops on the caller's arena.
#include <cstring>
#include <new>

#include "arena_plan.hpp"
#include "capsrt/capsrt.hpp"
#include "op_run.hpp"

namespace capsrt {

caps_status Interpreter::init(const Model& model, void* arena, size_t arena_size,
                              uint32_t kernels) {
  model_ = nullptr;
  arena_ = nullptr;
  prepared_ = nullptr;
  arena_used_ = 0;
  arena_size_ = 0;
  kernels_ = 0;
  generation_ = 0;
  invoked_ = false;
  if (arena == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (!model.loaded()) return CAPS_ERR_NOT_READY;
  if (reinterpret_cast<uintptr_t>(arena) % 16 != 0) return CAPS_ERR_MISALIGNED;
  if (kernels == CAPS_KERNELS_AUTO) kernels = kernels::kernel_set_default();
  if (!kernels::kernel_set_runnable(kernels)) return CAPS_ERR_UNSUPPORTED;
  const kernels::KernelSet& ks = *kernels::kernel_set(kernels);
  ArenaPlan plan;
  caps_status s = plan_arena(model, ks, &plan);
  if (s != CAPS_OK) return s;
  if (arena_size < plan.total) return CAPS_ERR_ARENA_TOO_SMALL;
  // Prepare every op once, as the plan places its scratch; invoke then only calls the runners.
  struct Prepare {
    const Model* model;
    const kernels::KernelSet* ks;
    uint8_t* base;
    uint8_t* prepared;
    static void place(void* ctx, uint32_t k, uint32_t offset, uint32_t size) {
      const Prepare& c = *static_cast<const Prepare*>(ctx);
      caps_op_entry entry;
      const OpView v = op_view(*c.model, k, &entry);
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
  Prepare ctx{&model, &ks, base, prepared};
  const ScratchSink sink{&Prepare::place, &ctx};
  if ((s = plan_arena(model, ks, &plan, &sink)) != CAPS_OK) return s;  // the same plan again
  model_ = &model;
  arena_ = base;
  prepared_ = prepared;
  arena_used_ = static_cast<size_t>(plan.total);
  arena_size_ = arena_size;
  kernels_ = kernels;
  generation_ = model.generation();
  return CAPS_OK;
}

const Model* Interpreter::live_model() const {
  return model_ != nullptr && model_->generation() == generation_ && model_->loaded() ? model_
                                                                                       : nullptr;
}

float* Interpreter::activation(uint32_t id) const {
  return reinterpret_cast<float*>(arena_ + model_->tensor(id).offset);
}

float* Interpreter::input() {
  if (live_model() == nullptr) return nullptr;
  return activation(model_->attributes().input_tensor);
}

caps_status Interpreter::set_input(const float* data, size_t count) {
  if (data == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  std::memcpy(input(), data, count * sizeof(float));
  invoked_ = false;
  return CAPS_OK;
}

caps_status Interpreter::set_input_u8(const uint8_t* pixels, size_t count) {
  if (pixels == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (live_model() == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  const float scale = model_->attributes().input_scale;
  const float offset = model_->attributes().input_offset;
  float* x = input();
  for (size_t n = 0; n < count; ++n) x[n] = static_cast<float>(pixels[n]) * scale + offset;
  invoked_ = false;
  return CAPS_OK;
}

caps_status Interpreter::run_ops(uint32_t begin, uint32_t end, int32_t mask_class) {
  for (uint32_t k = begin; k < end; ++k) {
    const PreparedOp& op = *reinterpret_cast<const PreparedOp*>(prepared_ + k * kPreparedOpBytes);
    op.run(op, mask_class);
  }
  return CAPS_OK;
}

caps_status Interpreter::invoke() {
  if (live_model() == nullptr) {
    invoked_ = false;
    return CAPS_ERR_NOT_READY;
  }
  invoked_ = false;
  const caps_status s = run_ops(0, model_->attributes().decoder_first_op, -1);
  invoked_ = s == CAPS_OK;
  return s;
}

const float* Interpreter::scores() const {
  if (!invoked_ || live_model() == nullptr) return nullptr;
  return activation(model_->attributes().scores_tensor);
}

uint32_t Interpreter::predicted_class() const {
  const float* s = scores();
  return s == nullptr ? 0 : first_max_index(s, model_->num_classes());
}

const float* Interpreter::poses() const {
  if (!invoked_ || live_model() == nullptr) return nullptr;
  return activation(model_->attributes().poses_tensor);
}

uint32_t Interpreter::pose_dim() const {
  if (live_model() == nullptr) return 0;
  return model_->tensor_shape(model_->attributes().poses_tensor).dims[1];
}

caps_status Interpreter::reconstruct(int32_t class_index, const float** image) {
  if (image == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  *image = nullptr;
  if (live_model() == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
  const caps_model_attributes& attrs = model_->attributes();
  if (attrs.recon_tensor == CAPS_NONE) return CAPS_ERR_UNSUPPORTED;
  if (class_index < -1 || (class_index >= 0 && static_cast<uint32_t>(class_index) >= attrs.num_classes))
    return CAPS_ERR_BAD_ARGUMENT;
  const caps_status s = run_ops(attrs.decoder_first_op, model_->op_count(), class_index);
  if (s != CAPS_OK) return s;
  *image = activation(attrs.recon_tensor);
  return CAPS_OK;
}

caps_status Interpreter::reconstruct_pose(uint32_t class_index, const float* pose,
                                          const float** image) {
  if (image == nullptr || pose == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  *image = nullptr;
  if (live_model() == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
  const caps_model_attributes& attrs = model_->attributes();
  if (attrs.recon_tensor == CAPS_NONE) return CAPS_ERR_UNSUPPORTED;
  if (class_index >= attrs.num_classes) return CAPS_ERR_BAD_ARGUMENT;
  // Swap the pose in, decode, swap the original back (pose_dim <= 64, checked at load).
  const uint32_t dim = pose_dim();
  float* row = activation(attrs.poses_tensor) + class_index * dim;
  float saved[64];
  std::memcpy(saved, row, dim * sizeof(float));
  std::memcpy(row, pose, dim * sizeof(float));
  const caps_status s = run_ops(attrs.decoder_first_op, model_->op_count(),
                                static_cast<int32_t>(class_index));
  std::memcpy(row, saved, dim * sizeof(float));
  if (s != CAPS_OK) return s;
  *image = activation(attrs.recon_tensor);
  return CAPS_OK;
}

}  // namespace capsrt
