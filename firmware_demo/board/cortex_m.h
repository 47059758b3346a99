/* The few Cortex-M system registers the firmware uses (ARMv7-M and ARMv8-M Architecture Reference
 * Manuals, "System Control Space"). No CMSIS package exists in Debian or npm; these addresses are
 * the same on every M-profile core. */
#ifndef CAPSRT_FIRMWARE_CORTEX_M_H
#define CAPSRT_FIRMWARE_CORTEX_M_H

#include <stdint.h>

#define CAPSRT_REG(addr) (*(volatile uint32_t*)(addr))

/* Coprocessor Access Control: CP10 and CP11 full access enable the FPU (and, on ARMv8.1-M, MVE). */
#define SCB_CPACR CAPSRT_REG(0xE000ED88u)
#define SCB_CPACR_CP10_CP11_FULL (0xFu << 20)
/* Configuration and Control: bit 3 UNALIGN_TRP (0: unaligned word accesses allowed). */
#define SCB_CCR CAPSRT_REG(0xE000ED14u)

/* SysTick: a 24-bit down-counter. CSR bit 0 ENABLE, 1 TICKINT, 2 CLKSOURCE (1: processor clock),
 * 16 COUNTFLAG. */
#define SYST_CSR CAPSRT_REG(0xE000E010u)
#define SYST_RVR CAPSRT_REG(0xE000E014u)
#define SYST_CVR CAPSRT_REG(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_RELOAD_MAX 0x00FFFFFFu

/* DWT cycle counter (reads 0 under QEMU 7.2; real cores count cycles): DEMCR bit 24 TRCENA,
 * DWT_CTRL bit 0 CYCCNTENA. */
#define DEMCR CAPSRT_REG(0xE000EDFCu)
#define DWT_CTRL CAPSRT_REG(0xE0001000u)
#define DWT_CYCCNT CAPSRT_REG(0xE0001004u)

static inline void capsrt_dsb_isb(void) { __asm volatile("dsb\n\tisb" ::: "memory"); }

#endif
