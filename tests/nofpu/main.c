/* The int8 path's link check (tests/nofpu/CMakeLists.txt): a bare-metal program that uses every
 * int8 entry point of the C API the way firmware does (a model in a const array, a static
 * arena), built for a core without an FPU. It is linked, not run: the test reads its symbol
 * table, in which no floating-point routine may appear. */
#include <stddef.h>
#include <stdint.h>

#include "capsrt/capsrt.h"

/* Stands for the model array capsconv --emit-c writes (contents do not matter to the link). */
static _Alignas(64) const unsigned char g_model[256] = {'C', 'A', 'P', 'S'};
static _Alignas(64) unsigned char g_arena[32768];
static unsigned char g_pixels[28 * 28];

int main(void) {
  caps_model model;
  caps_interpreter it;
  caps_status s = caps_model_load(&model, g_model, sizeof g_model, 0);
  if (s != CAPS_OK || !caps_model_is_int8(&model)) return (int)s;
  if ((s = caps_interpreter_init(&it, &model, g_arena, sizeof g_arena)) != CAPS_OK) return (int)s;
  if ((s = caps_set_input_u8(&it, g_pixels, sizeof g_pixels)) != CAPS_OK) return (int)s;
  caps_tensor_view in;
  if ((s = caps_get_tensor(&it, CAPS_TENSOR_INPUT, &in)) != CAPS_OK) return (int)s;
  if ((s = caps_set_input_s8(&it, (const int8_t*)in.data, in.count)) != CAPS_OK) return (int)s;
  if ((s = caps_invoke(&it)) != CAPS_OK) return (int)s;
  uint32_t best;
  caps_get_predicted_class(&it, &best);
  caps_tensor_view scores, poses, image;
  if ((s = caps_get_tensor(&it, CAPS_TENSOR_SCORES, &scores)) != CAPS_OK) return (int)s;
  if ((s = caps_get_tensor(&it, CAPS_TENSOR_POSES, &poses)) != CAPS_OK) return (int)s;
  if ((s = caps_reconstruct(&it, -1)) != CAPS_OK) return (int)s;
  const int16_t* pose = (const int16_t*)poses.data + best * poses.dims[1];
  if ((s = caps_reconstruct_pose(&it, best, pose, poses.dims[1])) != CAPS_OK) return (int)s;
  if ((s = caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &image)) != CAPS_OK) return (int)s;
  return (int)(((const int32_t*)scores.data)[best] + ((const int8_t*)image.data)[0]) & 1;
}
