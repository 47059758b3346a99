// Interpreter: runs a validated model's ops on the caller's arena.
#include <cstring>

#include "capsrt/capsrt.hpp"
#include "op_run.hpp"

namespace capsrt {

caps_status Interpreter::init(const Model& model, void* arena, size_t arena_size) {
  model_ = nullptr;
  arena_ = nullptr;
  invoked_ = false;
  if (arena == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (!model.loaded()) return CAPS_ERR_NOT_READY;
  if (reinterpret_cast<uintptr_t>(arena) % 16 != 0) return CAPS_ERR_MISALIGNED;
  if (arena_size < model.arena_size()) return CAPS_ERR_ARENA_TOO_SMALL;
  model_ = &model;
  arena_ = static_cast<uint8_t*>(arena);
  return CAPS_OK;
}

const void* Interpreter::tensor_ptr(const caps_tensor_entry& t) const {
  if (t.kind == CAPS_TENSOR_CONST) return model_->bytes() + t.offset;
  return arena_ + t.offset;
}

float* Interpreter::activation(uint32_t id) const {
  return reinterpret_cast<float*>(arena_ + model_->tensor(id).offset);
}

float* Interpreter::input() {
  if (model_ == nullptr) return nullptr;
  return activation(model_->attributes().input_tensor);
}

caps_status Interpreter::set_input(const float* data, size_t count) {
  if (data == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (model_ == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  std::memcpy(input(), data, count * sizeof(float));
  invoked_ = false;
  return CAPS_OK;
}

caps_status Interpreter::set_input_u8(const uint8_t* pixels, size_t count) {
  if (pixels == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  if (model_ == nullptr) return CAPS_ERR_NOT_READY;
  if (count != model_->input_size()) return CAPS_ERR_BAD_ARGUMENT;
  const float scale = model_->attributes().input_scale;
  const float offset = model_->attributes().input_offset;
  float* x = input();
  for (size_t n = 0; n < count; ++n) x[n] = static_cast<float>(pixels[n]) * scale + offset;
  invoked_ = false;
  return CAPS_OK;
}

caps_status Interpreter::run_ops(uint32_t begin, uint32_t end, int32_t mask_class) {
  const caps_model_attributes& attrs = model_->attributes();
  for (uint32_t k = begin; k < end; ++k) {
    const caps_op_entry op = model_->op(k);
    OpContext ctx;
    ctx.op = &op;
    ctx.attrs = &attrs;
    for (uint32_t s = 0; s < CAPS_MAX_OP_INPUTS; ++s) {
      ctx.in[s] = nullptr;
      if (s >= op.n_inputs) continue;
      ctx.in[s] = tensor_ptr(model_->tensor(op.inputs[s]));
      ctx.in_shape[s] = model_->tensor_shape(op.inputs[s]);
    }
    ctx.out = activation(op.output);
    ctx.out_shape = model_->tensor_shape(op.output);
    ctx.scratch = op.scratch_size ? arena_ + op.scratch_offset : nullptr;
    ctx.mask_class = mask_class;
    op_run(ctx);
  }
  return CAPS_OK;
}

caps_status Interpreter::invoke() {
  if (model_ == nullptr) return CAPS_ERR_NOT_READY;
  invoked_ = false;
  const caps_status s = run_ops(0, model_->attributes().decoder_first_op, -1);
  invoked_ = s == CAPS_OK;
  return s;
}

const float* Interpreter::scores() const {
  return invoked_ ? activation(model_->attributes().scores_tensor) : nullptr;
}

uint32_t Interpreter::predicted_class() const {
  const float* s = scores();
  return s == nullptr ? 0 : first_max_index(s, model_->num_classes());
}

const float* Interpreter::poses() const {
  return invoked_ ? activation(model_->attributes().poses_tensor) : nullptr;
}

uint32_t Interpreter::pose_dim() const {
  if (model_ == nullptr) return 0;
  return model_->tensor_shape(model_->attributes().poses_tensor).dims[1];
}

caps_status Interpreter::reconstruct(int32_t class_index, const float** image) {
  if (image == nullptr) return CAPS_ERR_NULL_ARGUMENT;
  *image = nullptr;
  if (model_ == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
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
  if (model_ == nullptr || !invoked_) return CAPS_ERR_NOT_READY;
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
