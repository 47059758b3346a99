#include "semihost.h"

#include <string.h>

/* Semihosting operations (Arm "Semihosting for AArch32 and AArch64", version 2). */
#define SYS_WRITE0 0x04u
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_Stopped_ApplicationExit 0x20026u

static uint32_t semihost_call(uint32_t op, const void* arg) {
  register uint32_t r0 __asm("r0") = op;
  register const void* r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void fw_write(const char* text, size_t length) {
  /* SYS_WRITE0 prints a NUL-terminated string: send it in pieces through a small buffer. */
  char buf[65];
  while (length > 0) {
    const size_t n = length < 64 ? length : 64;
    memcpy(buf, text, n);
    buf[n] = '\0';
    semihost_call(SYS_WRITE0, buf);
    text += n;
    length -= n;
  }
}

void fw_puts(const char* text) { fw_write(text, strlen(text)); }

void fw_put_u64(uint64_t value) {
  char buf[21];
  int k = 20;
  buf[k] = '\0';
  do {
    buf[--k] = (char)('0' + (int)(value % 10u));
    value /= 10u;
  } while (value != 0);
  fw_puts(&buf[k]);
}

void fw_put_i64(int64_t value) {
  if (value < 0) {
    fw_puts("-");
    fw_put_u64((uint64_t)0 - (uint64_t)value);
  } else {
    fw_put_u64((uint64_t)value);
  }
}

void fw_put_fixed(int64_t value, unsigned decimals) {
  uint64_t scale = 1;
  for (unsigned k = 0; k < decimals; ++k) scale *= 10u;
  if (value < 0) fw_puts("-");
  const uint64_t v = value < 0 ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
  fw_put_u64(v / scale);
  if (decimals == 0) return;
  fw_puts(".");
  uint64_t frac = v % scale;
  for (uint64_t s = scale / 10u; s > 0; s /= 10u) {
    const char digit[2] = {(char)('0' + (int)(frac / s)), '\0'};
    fw_puts(digit);
    frac %= s;
  }
}

void fw_put_u64_width(uint64_t value, unsigned width) {
  unsigned digits = 1;
  for (uint64_t v = value; v >= 10u; v /= 10u) ++digits;
  for (; digits < width; ++digits) fw_puts(" ");
  fw_put_u64(value);
}

void fw_put_str_width(const char* text, unsigned width) {
  fw_puts(text);
  for (size_t n = strlen(text); n < width; ++n) fw_puts(" ");
}

void fw_exit(int status) {
  /* SYS_EXIT_EXTENDED passes the status through (plain SYS_EXIT gives the host only 0 or 1). */
  const uint32_t block[2] = {ADP_Stopped_ApplicationExit, (uint32_t)status};
  semihost_call(SYS_EXIT_EXTENDED, block);
  for (;;) __asm volatile("wfi");
}
