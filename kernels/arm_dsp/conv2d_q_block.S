/* The inner loop of the armv7em-dsp int8 convolution (conv2d_q.cpp says the blocking): the sums
 * of 2 pixels x 2 output channels over `qn` groups of 4 inputs, added to a[4] =
 * {pixel 0 channel 0, pixel 0 channel 1, pixel 1 channel 0, pixel 1 channel 1}.
 *
 *   void capsrt_dsp_block_sums2(const uint32_t* x, const int8_t* w, uint32_t w_step,
 *                               int32_t qn, int32_t* a);
 *
 * x: the widened panel, per group 4 words: pixel 0's (x0, x2) and (x1, x3) int16 pairs, then
 *    pixel 1's; w: the 2 channels' K4O words of the first group (channel 0, then channel 1),
 *    w_step bytes apart from one group to the next. Per group: one LDRD of the weights, four
 *    SXTB16 widen them, two LDRD of the inputs and eight SMLAD (two 16 x 16 multiply-adds each)
 *    make 16 multiply-adds in 16 instructions, plus the loop's 2 every 2 groups.
 * Written in assembly because GCC 12 splits the doubleword loads and spills in this loop (24
 * instructions a group from the C version). channel_sums in conv2d_q.cpp is the same loop for one
 * channel, which the kernel runs for the last channel of an odd count. Thumb-2, ARMv7E-M or
 * ARMv8-M Mainline with DSP. */
        .syntax unified
        .thumb
        .text
        .align  2
        .global capsrt_dsp_block_sums2
        .type   capsrt_dsp_block_sums2, %function
        .thumb_func
capsrt_dsp_block_sums2:
        push    {r4-r11, lr}
        ldr     r12, [sp, #36]          /* a */
        ldrd    r4, r5, [r12]           /* r4 = p0c0, r5 = p0c1 */
        ldrd    r6, r7, [r12, #8]       /* r6 = p1c0, r7 = p1c1 */
        add     r3, r0, r3, lsl #4      /* r3 = end of x: 16 bytes a group */

/* One group: r8-r11 widened weights, r12/lr the inputs of one pixel. */
.macro GROUP
        ldrd    r9, r11, [r1]           /* channel 0's and channel 1's 4 weights */
        add     r1, r1, r2
        sxtb16  r8, r9                  /* (w0, w2) of channel 0 */
        sxtb16  r9, r9, ror #8          /* (w1, w3) */
        sxtb16  r10, r11                /* channel 1 */
        sxtb16  r11, r11, ror #8
        ldrd    r12, lr, [r0], #8       /* pixel 0: (x0, x2), (x1, x3) */
        smlad   r4, r12, r8, r4
        smlad   r4, lr, r9, r4
        smlad   r5, r12, r10, r5
        smlad   r5, lr, r11, r5
        ldrd    r12, lr, [r0], #8       /* pixel 1 */
        smlad   r6, r12, r8, r6
        smlad   r6, lr, r9, r6
        smlad   r7, r12, r10, r7
        smlad   r7, lr, r11, r7
.endm

        cmp     r0, r3
        beq     3f
        /* An odd number of groups: one first, then two per iteration. */
        sub     r12, r3, r0
        tst     r12, #16
        beq     1f
        GROUP
        cmp     r0, r3
        beq     3f
1:
        GROUP
        GROUP
        cmp     r0, r3
        bne     1b
3:
        ldr     r12, [sp, #36]
        strd    r4, r5, [r12]
        strd    r6, r7, [r12, #8]
        pop     {r4-r11, pc}
        .size   capsrt_dsp_block_sums2, .-capsrt_dsp_block_sums2
