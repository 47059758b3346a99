/* Counting instructions (under QEMU -icount) or cycles (on a real core) with SysTick: a 24-bit
 * down-counter on the processor clock whose wraps an interrupt counts, read as one 64-bit tick
 * count. Under `-icount shift=0,sleep=off` QEMU runs one instruction per virtual nanosecond and
 * SysTick ticks at the board's reference clock (mps2: 25 MHz, mps3-an547: 32 MHz), so one tick
 * is a fixed number of instructions: fw_timer_calibrate measures it with a loop of known length
 * rather than trusting a constant. On a real board, ticks are cycles (and the DWT cycle counter
 * is the finer tool: README.md). */
#ifndef CAPSRT_FIRMWARE_TIMER_H
#define CAPSRT_FIRMWARE_TIMER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void fw_timer_start(void);
uint64_t fw_ticks(void);
/* Instructions per tick in Q16, measured by running a loop of 2 x 2^20 instructions. */
uint32_t fw_timer_calibrate(void);

#ifdef __cplusplus
}
#endif

#endif
