/* A C program using capsrt the way C firmware does: C API only, static arena, no heap.
 * Built by the install test against an installed capsrt (find_package) and by the main build
 * (add_subdirectory path). Usage: capsrt_c_consumer MODEL_FILE; prints the scores (float, or Q15
 * for an int8 model). */
#include <stdio.h>
#include <string.h>

#include "capsrt/capsrt.h"

#define MAX_MODEL (40u << 20)
#define MAX_ARENA (2u << 20)

static _Alignas(64) unsigned char g_model[MAX_MODEL];
static _Alignas(64) unsigned char g_arena[MAX_ARENA];

/* The per-op observer, as firmware feeds a watchdog or reads a cycle counter: here it counts
 * the ops and their multiply-adds. */
struct op_count {
  uint32_t begun, ended;
  uint64_t macs;
};
static int32_t count_ops(void* user, const caps_op_event* e) {
  struct op_count* c = (struct op_count*)user;
  if (e->phase == CAPS_OP_BEGIN) {
    c->begun++;
  } else {
    c->ended++;
    c->macs += e->macs;
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s MODEL_FILE\n", argv[0]);
    return 2;
  }
  /* The library linked is the one this header describes. */
  if (CAPS_VERSION_CHECK() != CAPS_OK) {
    fprintf(stderr, "capsrt header %d, library %s\n", CAPSRT_VERSION, caps_version()->text);
    return 1;
  }
  printf("capsrt %s, model format %u.0 to %u.%u\n", caps_version()->text,
         (unsigned)caps_version()->format_major, (unsigned)caps_version()->format_major,
         (unsigned)caps_version()->format_minor_max);
  if (caps_version_check(CAPSRT_VERSION + 10000, sizeof(caps_model), sizeof(caps_interpreter)) !=
      CAPS_ERR_VERSION_MISMATCH)
    return 1;
  FILE* f = fopen(argv[1], "rb");
  if (!f) {
    fprintf(stderr, "cannot open %s\n", argv[1]);
    return 2;
  }
  size_t size = fread(g_model, 1, MAX_MODEL, f);
  fclose(f);

  caps_model model;
  caps_status s = caps_model_load(&model, g_model, size, 0);
  if (s != CAPS_OK) {
    fprintf(stderr, "load: %s\n", caps_status_message(s));
    return 1;
  }
  const caps_model_attributes* a = caps_model_attributes_get(&model);
  caps_interpreter it;
  s = caps_interpreter_init(&it, &model, g_arena, sizeof g_arena);
  if (s != CAPS_OK) {
    fprintf(stderr, "init: %s (arena needed: %zu bytes)\n", caps_status_message(s),
            caps_model_arena_size(&model));
    return 1;
  }
  static unsigned char pixels[4096];
  size_t n = (size_t)a->input_channels * a->input_height * a->input_width;
  if (n > sizeof pixels) return 1;
  for (size_t k = 0; k < n; ++k) pixels[k] = (unsigned char)(k * 13);
  struct op_count ops = {0, 0, 0};
  if ((s = caps_interpreter_set_observer(&it, count_ops, &ops)) != CAPS_OK ||
      (s = caps_set_input_u8(&it, pixels, n)) != CAPS_OK || (s = caps_invoke(&it)) != CAPS_OK) {
    fprintf(stderr, "run: %s\n", caps_status_message(s));
    return 1;
  }
  if (ops.begun == 0 || ops.begun != ops.ended || ops.macs == 0) return 1;
  printf("%u ops, %llu multiply-adds\n", (unsigned)ops.ended, (unsigned long long)ops.macs);
  uint32_t best;
  caps_get_predicted_class(&it, &best);
  /* The scores through the typed view, whatever the model's dtype: float32, or Q15 int32 for an
   * int8 model, each read as a real number with caps_tensor_value. */
  caps_tensor_view view;
  if (caps_get_tensor(&it, CAPS_TENSOR_SCORES, &view) != CAPS_OK || view.rank != 1 ||
      view.count != a->num_classes)
    return 1;
  if (view.dtype != (caps_model_is_int8(&model) ? CAPS_DTYPE_I32 : CAPS_DTYPE_F32)) return 1;
  printf("scores view: dtype %u, %u values, scale %g, zero point %ld\n", (unsigned)view.dtype,
         (unsigned)view.count, (double)view.scale, (long)view.zero_point);
  for (uint32_t j = 0; j < view.count; ++j) {
    const float real = caps_tensor_value(&view, j);
    printf("%s %.6f\n", caps_model_class_name(&model, j), (double)real);
    if (real < 0.0f || real > 1.0001f) return 1; /* a capsule's length (or a softmax) is in 0..1 */
    if (real > caps_tensor_value(&view, best)) return 1; /* the predicted class scores highest */
  }
  /* The reconstruction: not ready before caps_reconstruct, then C*H*W values. */
  if (a->recon_tensor != CAPS_NONE) {
    if (caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &view) != CAPS_ERR_NOT_READY) return 1;
    if ((s = caps_reconstruct(&it, -1)) != CAPS_OK ||
        (s = caps_get_tensor(&it, CAPS_TENSOR_RECONSTRUCTION, &view)) != CAPS_OK || view.count != n) {
      fprintf(stderr, "reconstruct: %s\n", caps_status_message(s));
      return 1;
    }
    printf("reconstruction: %u values, first %.3f\n", (unsigned)view.count, (double)caps_tensor_value(&view, 0));
  }
  printf("predicted %s\n", caps_model_class_name(&model, best));
  /* a too-small arena is refused with its own status */
  caps_interpreter small;
  if (caps_interpreter_init(&small, &model, g_arena, 64) != CAPS_ERR_ARENA_TOO_SMALL) return 1;
  return 0;
}
