/* Links the C array capsconv --emit-c wrote: it must be 64-byte aligned, hold the same bytes as
 * the .caps file from the same run, declare the arena size the runtime computes, and run. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "capsrt/capsrt.h"
#include "tiny_model.h"

static _Alignas(64) unsigned char g_arena[TINY_MODEL_ARENA_SIZE];
static unsigned char g_file[TINY_MODEL_SIZE + 1];

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  FILE* f = fopen(argv[1], "rb");
  if (!f) return 2;
  size_t n = fread(g_file, 1, sizeof g_file, f);
  fclose(f);
  if (n != TINY_MODEL_SIZE || memcmp(g_file, tiny_model, n) != 0) {
    printf("FAIL: the C array differs from the .caps file\n");
    return 1;
  }
  if ((uintptr_t)tiny_model % 64 != 0) {
    printf("FAIL: the array is not 64-byte aligned\n");
    return 1;
  }
  caps_model model;
  caps_interpreter it;
  caps_status s = caps_model_load(&model, tiny_model, TINY_MODEL_SIZE, 0);
  if (s != CAPS_OK || caps_model_arena_size(&model) != TINY_MODEL_ARENA_SIZE) {
    printf("FAIL: %s, arena %zu vs %u\n", caps_status_message(s), caps_model_arena_size(&model),
           TINY_MODEL_ARENA_SIZE);
    return 1;
  }
  static uint8_t pixels[144];
  for (int k = 0; k < 144; ++k) pixels[k] = (uint8_t)(k * 7);
  if (caps_interpreter_init(&it, &model, g_arena, sizeof g_arena) != CAPS_OK ||
      caps_set_input_u8(&it, pixels, 144) != CAPS_OK || caps_invoke(&it) != CAPS_OK) {
    printf("FAIL: cannot run the model\n");
    return 1;
  }
  uint32_t best;
  caps_get_predicted_class(&it, &best);
  printf("model from the C array: %u bytes, arena %u bytes, predicted %s\n", TINY_MODEL_SIZE,
         TINY_MODEL_ARENA_SIZE, caps_model_class_name(&model, best));
  printf("1 passed, 0 failed\n");
  return 0;
}
