/* Output and exit through Arm semihosting (the debugger, or QEMU's -semihosting), and small
 * printing helpers that need no printf and no floating point. On a real board without a
 * debugger, retarget fw_write to a UART (README.md). */
#ifndef CAPSRT_FIRMWARE_SEMIHOST_H
#define CAPSRT_FIRMWARE_SEMIHOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void fw_write(const char* text, size_t length);
void fw_puts(const char* text);             /* no newline added */
void fw_put_u64(uint64_t value);
void fw_put_i64(int64_t value);
/* value / 10^decimals with that many decimals, e.g. (9935, 2) -> "99.35" */
void fw_put_fixed(int64_t value, unsigned decimals);
/* value padded with spaces to `width` characters (right-aligned) */
void fw_put_u64_width(uint64_t value, unsigned width);
void fw_put_str_width(const char* text, unsigned width);  /* left-aligned */

/* Ends the program with `status` as the emulator's (or debugger's) exit status. */
void fw_exit(int status) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif

#endif
