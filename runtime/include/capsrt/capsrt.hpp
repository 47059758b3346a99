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
//   it.scores()[k], it.predicted_class(), it.poses();
//   const float* image; it.reconstruct(-1, &image);
#ifndef CAPSRT_CAPSRT_HPP
#define CAPSRT_CAPSRT_HPP

#include <cstddef>
#include <cstdint>

#include "capsrt/capsrt.h"
#include "capsrt/ops.hpp"

namespace capsrt {

inline const char* status_message(caps_status s) { return caps_status_message(s); }

class Model {
 public:
  // Validates the file in `data` (16-byte aligned, `size` bytes) and keeps a view on it.
  // On failure the model stays unloaded.
  caps_status load(const void* data, size_t size, uint32_t flags = 0);
  bool loaded() const { return bytes_ != nullptr; }

  size_t arena_size() const { return loaded() ? header_.arena_size : 0; }
  const caps_file_header& header() const { return header_; }
  const caps_model_attributes& attributes() const { return attrs_; }
  uint32_t num_classes() const { return attrs_.num_classes; }
  uint32_t input_size() const;  // floats in the input, C*H*W
  const char* class_name(uint32_t index) const;  // NULL if out of range
  const char* description() const;               // "" when none

  uint32_t tensor_count() const { return header_.tensor_count; }
  uint32_t op_count() const { return header_.op_count; }
  caps_tensor_entry tensor(uint32_t id) const;  // id < tensor_count()
  caps_op_entry op(uint32_t index) const;       // index < op_count()
  Shape tensor_shape(uint32_t id) const;
  const char* tensor_name(uint32_t id) const;   // "" when unnamed
  const void* const_data(uint32_t id) const;    // const tensors only
  const uint8_t* bytes() const { return bytes_; }

 private:
  caps_status validate(const uint8_t* data, size_t size, uint32_t flags);
  const char* string_at(uint32_t offset) const;

  const uint8_t* bytes_ = nullptr;
  caps_file_header header_{};
  caps_model_attributes attrs_{};
};

class Interpreter {
 public:
  // `arena`: 16-byte aligned, at least model.arena_size() bytes, owned by the caller and used
  // only by this interpreter. `model` must stay alive and loaded.
  caps_status init(const Model& model, void* arena, size_t arena_size);
  const Model* model() const { return model_; }  // NULL until init succeeds

  // Input buffer inside the arena: input_channels*height*width floats, CHW.
  float* input();
  caps_status set_input(const float* data, size_t count);
  caps_status set_input_u8(const uint8_t* pixels, size_t count);

  caps_status invoke();  // the classifier ops
  bool invoked() const { return invoked_; }
  const float* scores() const;  // num_classes floats; NULL before invoke
  uint32_t predicted_class() const;
  const float* poses() const;  // num_classes x pose_dim(); NULL before invoke
  uint32_t pose_dim() const;

  // Decoder on the poses masked to `class_index` (-1: predicted). `*image` is C*H*W floats.
  caps_status reconstruct(int32_t class_index, const float** image);
  // Decoder on a pose of the caller's (pose_dim() floats) standing in for class `class_index`'s
  // capsule, as in the paper's figure of perturbed capsule dimensions. Scores and poses are
  // left as invoke() made them.
  caps_status reconstruct_pose(uint32_t class_index, const float* pose, const float** image);

 private:
  caps_status run_ops(uint32_t begin, uint32_t end, int32_t mask_class);
  const void* tensor_ptr(const caps_tensor_entry& t) const;
  float* activation(uint32_t id) const;  // an activation tensor's floats in the arena

  const Model* model_ = nullptr;
  uint8_t* arena_ = nullptr;
  bool invoked_ = false;
};

}  // namespace capsrt

#endif
