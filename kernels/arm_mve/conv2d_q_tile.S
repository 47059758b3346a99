/* The inner loop of the mve int8 convolution (conv2d_q.cpp says the blocking): the sums of a
 * tile of 2 pixels x 3 output channels over `steps` x 4 K4O groups (16 inputs a step), added to
 * a[6] = {channel 0: pixel 0, pixel 1; channel 1: ...; channel 2: ...}.
 *
 *   void capsrt_mve_tile_sums3(const int8_t* w, const int8_t* x0, const int8_t* x1, int32_t* a,
 *                              uint32_t o4, int32_t steps);
 *
 * w: channel 0's K4O word of the first group (channel c's is 4 c bytes on, the next group's
 *    o4 = 4 O bytes on); x0, x1: the two pixels' 16 inputs a step (the pixel-major panel).
 * Per step: 2 vector loads of the inputs, 3 gathers of a channel's 4 words (offsets {0, o4,
 * 2 o4, 3 o4}) and 6 VMLADAVA (16 int8 products summed into a 32-bit register each) make 96
 * multiply-adds in 14 instructions. In assembly because VMLADAVA's accumulator must be an even
 * register: GCC 12 kept some of the 6 sums on the stack in this loop (25 instructions a step).
 * The sums are exact (the validator bounds K). ARMv8.1-M with MVE (integer). */
        .syntax unified
        .thumb
        .arch   armv8.1-m.main
        .arch_extension mve
        .text
        .align  2
        .global capsrt_mve_tile_sums3
        .type   capsrt_mve_tile_sums3, %function
        .thumb_func
capsrt_mve_tile_sums3:
        push    {r4-r11, lr}
        ldr     r12, [sp, #36]          /* o4 */
        ldr     r11, [sp, #40]          /* steps */
        mov     r5, r0                  /* r5 = w */
        mov     r9, r3                  /* r9 = a */
        mov     r3, r2                  /* r3 = x1 (r1 = x0) */
        lsl     r7, r12, #2             /* r7 = 16 O: the next 4 groups */
        movs    r0, #0
        vidup.u32 q3, r0, #1            /* {0, 1, 2, 3} */
        vmul.i32 q3, q3, r12            /* the gather offsets {0, o4, 2 o4, 3 o4} */
        ldrd    r0, r2, [r9]
        ldrd    r4, r6, [r9, #8]
        ldrd    r8, r10, [r9, #16]
        wls     lr, r11, 2f
1:      vldrb.u8 q0, [r1], #16          /* pixel 0's 16 inputs */
        vldrb.u8 q1, [r3], #16          /* pixel 1's */
        vldrw.u32 q2, [r5, q3]          /* channel 0's 16 weights */
        vmladava.s8 r0, q2, q0
        vmladava.s8 r2, q2, q1
        add     r11, r5, #4
        vldrw.u32 q2, [r11, q3]         /* channel 1 */
        vmladava.s8 r4, q2, q0
        vmladava.s8 r6, q2, q1
        add     r11, r5, #8
        vldrw.u32 q2, [r11, q3]         /* channel 2 */
        vmladava.s8 r8, q2, q0
        vmladava.s8 r10, q2, q1
        add     r5, r5, r7
        le      lr, 1b
2:      strd    r0, r2, [r9]
        strd    r4, r6, [r9, #8]
        strd    r8, r10, [r9, #16]
        pop     {r4-r11, pc}
        .size   capsrt_mve_tile_sums3, .-capsrt_mve_tile_sums3
