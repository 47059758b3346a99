#include "stack_paint.h"

extern uint32_t __stack_limit[], __stack_top[];

#define PAINT 0xC5A5C5A5u

__attribute__((noinline)) void fw_stack_paint(void) {
  uint32_t* sp;
  __asm volatile("mov %0, sp" : "=r"(sp));
  /* Leave 64 bytes below the current frame alone: this function's own spills live there. */
  for (uint32_t* p = __stack_limit; p < sp - 16; ++p) *(volatile uint32_t*)p = PAINT;
}

uint32_t fw_stack_used(void) {
  const uint32_t* p = __stack_limit;
  while (p < __stack_top && *(volatile const uint32_t*)p == PAINT) ++p;
  return (uint32_t)((const char*)__stack_top - (const char*)p);
}

uint32_t fw_stack_size(void) { return (uint32_t)((const char*)__stack_top - (const char*)__stack_limit); }
