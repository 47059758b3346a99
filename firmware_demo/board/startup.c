/* Reset and exception vectors for the firmware's Cortex-M boards: the vector table, a reset
 * handler that enables the FPU (and MVE), copies .data, zeroes .bss, paints the stack and runs the static constructors, and
 * fault handlers that say which fault happened and exit. Symbols come from board.ld.in. */
#include <stdint.h>
#include <string.h>

#include "cortex_m.h"
#include "semihost.h"
#include "stack_paint.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern uint32_t __stack_limit[], __stack_top[];

int main(void);
typedef void (*init_fn)(void);
extern init_fn __preinit_array_start[], __preinit_array_end[], __init_array_start[], __init_array_end[];
void SysTick_Handler(void);

static void fault(const char* what) {
  fw_puts("\nfatal: ");
  fw_puts(what);
  fw_puts(" exception\n");
  fw_exit(3);
}
static void NMI_Handler(void) { fault("NMI"); }
static void HardFault_Handler(void) { fault("HardFault"); }
static void MemManage_Handler(void) { fault("MemManage"); }
static void BusFault_Handler(void) { fault("BusFault"); }
static void UsageFault_Handler(void) { fault("UsageFault"); }
static void Default_Handler(void) { fault("unexpected"); }

__attribute__((noreturn)) void Reset_Handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  SCB_CPACR |= SCB_CPACR_CP10_CP11_FULL;  /* before any floating-point or vector instruction */
  capsrt_dsb_isb();
#endif
  memcpy(__data_start, __data_load, (size_t)((char*)__data_end - (char*)__data_start));
  memset(__bss_start, 0, (size_t)((char*)__bss_end - (char*)__bss_start));
  fw_stack_paint();
  /* Static constructors (none in capsrt; kept for the program's own C++). */
  for (init_fn* f = __preinit_array_start; f < __preinit_array_end; ++f) (*f)();
  for (init_fn* f = __init_array_start; f < __init_array_end; ++f) (*f)();
  fw_exit(main());
}

typedef void (*vector_fn)(void);

#define D8 Default_Handler, Default_Handler, Default_Handler, Default_Handler, \
           Default_Handler, Default_Handler, Default_Handler, Default_Handler

/* The first 16 entries are the architecture's; 48 device interrupts, none used, follow. */
__attribute__((section(".isr_vector"), used)) const vector_fn g_vectors[16 + 48] = {
    (vector_fn)(uintptr_t)__stack_top,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    Default_Handler, /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    D8, D8, D8, D8, D8, D8,
};
