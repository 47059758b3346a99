/* firmware_demo: a CapsNet classifying MNIST digits on a Cortex-M core, bare metal.
 *
 * The model is a const array in flash (capsconv --emit-c), the images and the x86 run's results
 * are const arrays too (capsfw_assets); one static arena, no heap. For each image: set the
 * pixels, invoke, read the class and the scores through the tensor view, and compare them with
 * what the same model gave on x86 (int8: bit for bit; float: the class, and the scores within
 * 1e-4). Prints the predicted classes, the accuracy, the instructions per inference (SysTick
 * under QEMU -icount; cycles on a real board) in total and per op through the observer, the
 * memory the program takes and the stack's high-water mark, and a closing line
 * "N passed, M failed". Exit status 0 when every image matched.
 *
 * FW_BENCH_RUNS > 0 (the bench build) instead runs the first image that many times and prints
 * the per-op table of the fastest run of each op. */
#include <stdint.h>
#include <string.h>

#include "board/semihost.h"
#include "board/stack_paint.h"
#include "board/timer.h"
#include "capsrt/capsrt.h"
#include "fw_assets.h"
#include "fw_model.h"

#ifndef FW_BENCH_RUNS
#define FW_BENCH_RUNS 0
#endif
#define FW_MAX_OPS 16

static _Alignas(64) uint8_t g_arena[FW_MODEL_ARENA_SIZE];

/* --- per-op instructions, through the observer ------------------------------------------------ */
typedef struct {
  const char* name;
  const char* output;
  uint64_t macs;
  uint64_t total;  /* ticks over every run */
  uint64_t best;   /* the fastest run's ticks */
  uint64_t begin;
} op_stat;
static op_stat g_ops[FW_MAX_OPS];
static uint32_t g_op_count;

static int32_t observe(void* user, const caps_op_event* e) {
  (void)user;
  const uint64_t now = fw_ticks();
  if (e->index >= FW_MAX_OPS) return 0;
  op_stat* s = &g_ops[e->index];
  if (e->phase == CAPS_OP_BEGIN) {
    s->begin = now;
    return 0;
  }
  const uint64_t t = now - s->begin;
  s->name = e->name;
  s->output = e->output_name;
  s->macs = e->macs;
  s->total += t;
  if (s->best == 0 || t < s->best) s->best = t;
  if (e->index + 1 > g_op_count) g_op_count = e->index + 1;
  return 0;
}

/* --- helpers ----------------------------------------------------------------------------------- */
static uint32_t g_instr_per_tick_q16;
static uint64_t instructions(uint64_t ticks) { return (ticks * g_instr_per_tick_q16 + 0x8000u) >> 16; }

static void fail(const char* what, caps_status s) {
  fw_puts("error: ");
  fw_puts(what);
  fw_puts(": ");
  fw_puts(caps_status_message(s));
  fw_puts("\n");
  fw_exit(2);
}

static void put_kv(const char* key, uint64_t value, const char* unit) {
  fw_put_str_width(key, 34);
  fw_put_u64_width(value, 10);
  fw_puts(unit);
  fw_puts("\n");
}

extern const char __flash_start[], __flash_end[], __model_start[], __model_end[];
extern const char __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_limit[], __stack_top[];
extern const char __ram_start[];

static void memory_report(void) {
  const uint32_t model = (uint32_t)(__model_end - __model_start);
  /* The flash region's use; a model too large for it lies in a region of its own (board.ld.in). */
  const uintptr_t m = (uintptr_t)__model_start;
  const int model_in_flash = m >= (uintptr_t)__flash_start && m < (uintptr_t)__flash_end;
  const uint32_t flash = (uint32_t)(__flash_end - __flash_start) + (model_in_flash ? 0u : model);
  const uint32_t arena = (uint32_t)sizeof g_arena;
  const uint32_t data_bss = (uint32_t)((__data_end - __data_start) + (__bss_end - __bss_start));
  const uint32_t stack = fw_stack_size();
  fw_puts("\nmemory (bytes):\n");
  put_kv(model_in_flash ? "  flash: model" : "  flash: model (in its own region)", model, "");
#if FW_EXPECT_INT8
  const uint32_t test_data = (uint32_t)(sizeof fw_images + sizeof fw_labels + sizeof fw_expected_class + sizeof fw_expected_scores_q15);
#else
  const uint32_t test_data = (uint32_t)(sizeof fw_images + sizeof fw_labels + sizeof fw_expected_class + sizeof fw_expected_scores);
#endif
  put_kv("  flash: test images and x86 results", test_data, "");
  put_kv("  flash: code and other constants", flash - model - test_data, "");
  put_kv("  flash: total", flash, "");
  put_kv("  RAM: arena", arena, "");
  put_kv("  RAM: other .data and .bss", data_bss - arena, "");
  put_kv("  RAM: stack reserved", stack, "");
  put_kv("  RAM: stack used (high-water mark)", fw_stack_used(), "");
  put_kv("  RAM: total", (uint32_t)(__stack_top - __ram_start), "");
}

static void op_table(uint32_t runs, int best) {
  uint64_t sum = 0;
  for (uint32_t k = 0; k < g_op_count; ++k) sum += best ? g_ops[k].best : g_ops[k].total;
  fw_puts(best ? "\nper op, fastest of " : "\nper op, mean of ");
  fw_put_u64(runs);
  fw_puts(" runs (instructions under QEMU -icount; cycles on a real core):\n");
  fw_puts("  op  kind           output          multiply-adds  instructions  share  instr/MAC\n");
  for (uint32_t k = 0; k < g_op_count; ++k) {
    const op_stat* s = &g_ops[k];
    const uint64_t ins = instructions(best ? s->best : s->total / runs);
    fw_puts("  ");
    fw_put_u64_width(k, 2);
    fw_puts("  ");
    fw_put_str_width(s->name, 13);
    fw_puts("  ");
    fw_put_str_width(s->output, 14);
    fw_put_u64_width(s->macs, 15);
    fw_put_u64_width(ins, 14);
    fw_put_u64_width(sum ? (uint64_t)(best ? s->best : s->total) * 100u / sum : 0, 6);
    fw_puts("%  ");
    if (s->macs) fw_put_fixed((int64_t)(ins * 100u / s->macs), 2);
    fw_puts("\n");
  }
}

/* --- the program ------------------------------------------------------------------------------ */
int main(void) {
  fw_timer_start();
  g_instr_per_tick_q16 = fw_timer_calibrate();
  fw_puts("capsrt firmware_demo on " FW_BOARD_NAME " (" FW_CORE_NAME ")\n");
  if (CAPS_VERSION_CHECK() != CAPS_OK) fail("version", CAPS_ERR_VERSION_MISMATCH);

  caps_model model;
  uint64_t t0 = fw_ticks();
  caps_status s = caps_model_load(&model, fw_model, FW_MODEL_SIZE, 0);
  const uint64_t load_ticks = fw_ticks() - t0;
  if (s != CAPS_OK) fail("model load", s);
  caps_interpreter it;
  t0 = fw_ticks();
  s = caps_interpreter_init(&it, &model, g_arena, sizeof g_arena);
  const uint64_t init_ticks = fw_ticks() - t0;
  if (s != CAPS_OK) fail("interpreter init", s);
  const int int8 = caps_model_is_int8(&model);
  if (int8 != FW_EXPECT_INT8) fail("the model is not the kind the expected results are for", CAPS_ERR_DTYPE);
  const caps_model_attributes* a = caps_model_attributes_get(&model);
  fw_puts("model: ");
  fw_puts(int8 ? "int8" : "float32");
  fw_puts(", ");
  fw_put_u64(FW_MODEL_SIZE);
  fw_puts(" bytes");
  fw_puts(a->recon_tensor == CAPS_NONE ? ", classifier only" : ", with decoder");
#ifdef FW_FULL_MODEL_SIZE
  fw_puts(" (");
  fw_put_u64(FW_FULL_MODEL_SIZE);
  fw_puts(" bytes with the decoder)");
#endif
  fw_puts("; kernels ");
  fw_puts(caps_kernels_name(caps_interpreter_kernels(&it)));
  fw_puts("; arena ");
  fw_put_u64(caps_model_arena_size_for(&model, caps_interpreter_kernels(&it)));
  fw_puts(" bytes\n");
  fw_puts("instructions per SysTick tick: ");
  fw_put_fixed((int64_t)(((uint64_t)g_instr_per_tick_q16 * 100u) >> 16), 2);
  fw_puts("\nload (checksum and validation): ");
  fw_put_u64(instructions(load_ticks));
  fw_puts(" instructions; init: ");
  fw_put_u64(instructions(init_ticks));
  fw_puts(" instructions\n");
  if ((s = caps_interpreter_set_observer(&it, observe, 0)) != CAPS_OK) fail("observer", s);

#if FW_BENCH_RUNS > 0
  for (uint32_t r = 0; r < FW_BENCH_RUNS; ++r) {
    if ((s = caps_set_input_u8(&it, fw_images[0], FW_IMAGE_SIZE)) != CAPS_OK) fail("set input", s);
    if ((s = caps_invoke(&it)) != CAPS_OK) fail("invoke", s);
  }
  op_table(FW_BENCH_RUNS, 1);
  memory_report();
  fw_puts("1 passed, 0 failed\n");
  return 0;
#else
  uint32_t passed = 0, failed = 0, correct = 0;
  uint64_t total_ticks = 0, min_ticks = UINT64_MAX, max_ticks = 0;
  fw_puts("predicted classes (x: differs from the x86 run):\n");
  for (uint32_t n = 0; n < FW_IMAGE_COUNT; ++n) {
    t0 = fw_ticks();
    s = caps_set_input_u8(&it, fw_images[n], FW_IMAGE_SIZE);
    if (s == CAPS_OK) s = caps_invoke(&it);
    const uint64_t t = fw_ticks() - t0;
    if (s != CAPS_OK) fail("invoke", s);
    total_ticks += t;
    if (t < min_ticks) min_ticks = t;
    if (t > max_ticks) max_ticks = t;
    uint32_t cls = 0;
    caps_tensor_view v;
    if ((s = caps_get_predicted_class(&it, &cls)) != CAPS_OK || (s = caps_get_tensor(&it, CAPS_TENSOR_SCORES, &v)) != CAPS_OK)
      fail("outputs", s);
    int same = cls == fw_expected_class[n] && v.count == FW_CLASSES;
#if FW_EXPECT_INT8
    /* bit for bit: the Q15 scores are the x86 run's */
    same = same && v.dtype == CAPS_DTYPE_I32 && memcmp(v.data, fw_expected_scores_q15[n], sizeof fw_expected_scores_q15[n]) == 0;
#else
    for (uint32_t j = 0; same && j < FW_CLASSES; ++j) {
      const float d = ((const float*)v.data)[j] - fw_expected_scores[n][j];
      same = d <= 1e-4f && d >= -1e-4f;
    }
#endif
    passed += same != 0;
    failed += same == 0;
    correct += cls == fw_labels[n];
    const char digit[3] = {(char)('0' + (int)(cls % 10u)), same ? ' ' : 'x', '\0'};
    fw_puts(digit);
    if (n % 50 == 49 || n + 1 == FW_IMAGE_COUNT) fw_puts("\n");
  }
  fw_puts("\naccuracy on ");
  fw_put_u64(FW_IMAGE_COUNT);
  fw_puts(" MNIST test images: ");
  fw_put_u64(correct);
  fw_puts("/");
  fw_put_u64(FW_IMAGE_COUNT);
  fw_puts(" = ");
  fw_put_fixed((int64_t)correct * 10000 / FW_IMAGE_COUNT, 2);
  fw_puts("% (the x86 run of the same model: ");
  fw_put_u64(FW_X86_CORRECT);
  fw_puts(")\n");
  fw_puts("instructions per inference (set_input + invoke): mean ");
  fw_put_u64(instructions(total_ticks / FW_IMAGE_COUNT));
  fw_puts(", min ");
  fw_put_u64(instructions(min_ticks));
  fw_puts(", max ");
  fw_put_u64(instructions(max_ticks));
  fw_puts("\n");
  op_table(FW_IMAGE_COUNT, 0);
  memory_report();
  fw_put_u64(passed);
  fw_puts(" passed, ");
  fw_put_u64(failed);
  fw_puts(" failed\n");
  return failed == 0 ? 0 : 1;
#endif
}
