/* caps_timer: times capsrt on a model and an IDX image file, in blocks asked for on stdin, so
 * that another program (bench/compare_pytorch.py) can interleave its own timings with ours on
 * the same machine at the same moment. Written against the C API, as a C firmware would be.
 *
 *   caps_timer MODEL.caps IMAGES.idx3-ubyte        (CAPSRT_KERNELS picks the kernel set)
 *   stdin:  N          run the next N images (batch 1, one thread), cycling through the file
 *   stdout: one line per block: the N per-image times in microseconds (set_input_u8 + invoke)
 *           and, last, the predicted classes' checksum; the first line names the kernel set.
 * Exit status 2 for an unreadable model or image file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "capsrt/capsrt.h"

static void* read_all(const char* path, size_t* size, size_t align) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  void* p = NULL;
  if (n > 0 && posix_memalign(&p, align, (size_t)n) == 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
    free(p);
    p = NULL;
  }
  fclose(f);
  *size = (size_t)n;
  return p;
}

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static unsigned be32(const unsigned char* p) {
  return ((unsigned)p[0] << 24) | ((unsigned)p[1] << 16) | ((unsigned)p[2] << 8) | p[3];
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: caps_timer MODEL.caps IMAGES.idx3-ubyte\n");
    return 1;
  }
  const char* env = getenv("CAPSRT_KERNELS");
  const uint32_t kernels = env && *env ? caps_kernels_from_name(env) : CAPS_KERNELS_AUTO;
  if (kernels != CAPS_KERNELS_AUTO && !caps_kernels_available(kernels)) {
    fprintf(stderr, "caps_timer: kernel set '%s' is not available here\n", env);
    return 1;
  }
  size_t model_size = 0, idx_size = 0;
  void* model_bytes = read_all(argv[1], &model_size, 64);
  unsigned char* idx = read_all(argv[2], &idx_size, 64);
  if (!model_bytes || !idx || idx_size < 16 || be32(idx) != 0x803) {
    fprintf(stderr, "caps_timer: cannot read %s\n", !model_bytes ? argv[1] : argv[2]);
    return 2;
  }
  static caps_model model;
  static caps_interpreter it;
  caps_status s = caps_model_load(&model, model_bytes, model_size, 0);
  if (s != CAPS_OK) {
    fprintf(stderr, "caps_timer: %s: %s\n", argv[1], caps_status_message(s));
    return 2;
  }
  const size_t pixels = (size_t)be32(idx + 8) * be32(idx + 12);
  const size_t count = be32(idx + 4);
  if (idx_size < 16 + count * pixels || count == 0) {
    fprintf(stderr, "caps_timer: %s is truncated\n", argv[2]);
    return 2;
  }
  const size_t arena_size = caps_model_arena_size(&model);
  void* arena = NULL;
  if (posix_memalign(&arena, 64, arena_size) != 0) return 1;
  s = caps_interpreter_init_kernels(&it, &model, arena, arena_size, kernels);
  if (s != CAPS_OK) {
    fprintf(stderr, "caps_timer: %s\n", caps_status_message(s));
    return 1;
  }
  printf("kernels %s\n", caps_kernels_name(caps_interpreter_kernels(&it)));
  fflush(stdout);
  size_t next = 0;
  long n;
  while (scanf("%ld", &n) == 1 && n > 0) {
    unsigned long sum = 0;
    for (long k = 0; k < n; ++k) {
      const double t0 = now_us();
      caps_set_input_u8(&it, idx + 16 + next * pixels, pixels);
      caps_invoke(&it);
      const double t1 = now_us();
      uint32_t cls = 0;
      caps_get_predicted_class(&it, &cls);
      sum += cls;
      printf("%.2f ", t1 - t0);
      next = (next + 1) % count;
    }
    printf("%lu\n", sum);
    fflush(stdout);
  }
  free(arena);
  free(idx);
  free(model_bytes);
  return 0;
}
