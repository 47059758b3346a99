#include "timer.h"

#include "cortex_m.h"

static volatile uint32_t g_wraps;  /* SysTick reloads since fw_timer_start */

void SysTick_Handler(void) { ++g_wraps; }

void fw_timer_start(void) {
  SYST_CSR = 0;
  SYST_RVR = SYST_RELOAD_MAX;
  SYST_CVR = 0;
  g_wraps = 0;
  SYST_CSR = SYST_CSR_ENABLE | SYST_CSR_TICKINT | SYST_CSR_CLKSOURCE;
  /* The counter reads 0 until its first tick loads the reload value: wait for it, or the first
   * reading would look like a full period ahead of the next. */
  while (SYST_CVR == 0) {
  }
}

uint64_t fw_ticks(void) {
  /* Read wraps, counter, wraps again: a wrap between the reads shows as a changed count. */
  uint32_t before, value, after;
  do {
    before = g_wraps;
    value = SYST_CVR;
    after = g_wraps;
  } while (before != after);
  return (uint64_t)before * (SYST_RELOAD_MAX + 1u) + (SYST_RELOAD_MAX - value);
}

uint32_t fw_timer_calibrate(void) {
  enum { kIterations = 1u << 20 };  /* 2 instructions each: subs, bne */
  const uint64_t t0 = fw_ticks();
  uint32_t n = kIterations;
  __asm volatile(
      "1: subs %0, %0, #1\n\t"
      "   bne 1b"
      : "+r"(n)
      :
      : "cc");
  const uint64_t ticks = fw_ticks() - t0;
  if (ticks == 0) return 0;
  return (uint32_t)(((uint64_t)2 * kIterations << 16) / ticks);
}
