/* The stack's high-water mark, measured by painting: at reset the unused stack is filled with a
 * pattern; later, the lowest word that no longer holds it marks the deepest the stack has been. */
#ifndef CAPSRT_FIRMWARE_STACK_PAINT_H
#define CAPSRT_FIRMWARE_STACK_PAINT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void fw_stack_paint(void);              /* from the stack's limit up to just below the caller */
uint32_t fw_stack_used(void);           /* bytes from the top down to the deepest write */
uint32_t fw_stack_size(void);           /* bytes reserved for the stack */

#ifdef __cplusplus
}
#endif

#endif
