/* The predictions of the armv7em-dsp int8 CapsDense (caps_dense_q.cpp says the blocking) for 4
 * input capsules i .. i+3 of 4 components and one class j, requantised: ph[d * 4 + l] =
 * clamp(requantize(sum_k W[j, d, k, i + l] u[i + l, k], mult, shift), +-32767) for d < D, as
 * ref::caps_dense_q's predict does, for a shift >= 17 (the caller checks; predict_block in
 * caps_dense_q.cpp is the same computation in C, for the other cases).
 *
 *   void capsrt_dsp_predict_block4(const int8_t* w, int32_t I, const uint32_t* u, int32_t D,
 *                                  const int32_t* rq, int16_t* ph);
 *
 * w: W[j, 0, 0, i] in JDKI (input capsule fastest: each (d, k) is one word of 4 capsules, the
 *    next k I bytes on, the next d 4 I bytes on); u: 8 words, per k the 4 capsules' component k
 *    widened by SXTB16 into (i, i+2) and (i+1, i+3) int16 pairs; rq: {mult, shift - 32, low
 *    word of 2^(shift-1), high word}. Per (d, k): one word of weights widened the same way and
 *    4 halfword multiply-accumulates (SMLABB/SMLATT: one capsule each; SMLAD's pair sums do not
 *    apply within a capsule); per output: SMLAL onto the rounding term, the high word shifted
 *    by shift - 32 (the low word cannot reach the result), SSAT, and -32768 -> -32767.
 * Written in assembly because GCC 12 kept the widened inputs on the stack and took the 64-bit
 * rounding apart (about 41 instructions an output in C, 17 here). Thumb-2, DSP extension. */
        .syntax unified
        .thumb
        .text
        .align  2
        .global capsrt_dsp_predict_block4
        .type   capsrt_dsp_predict_block4, %function
        .thumb_func
capsrt_dsp_predict_block4:
        push    {r4-r11, lr}
        ldr     r4, [sp, #36]           /* rq */
        ldr     r5, [sp, #40]           /* ph */
        ldrd    r12, lr, [r4]           /* r12 = mult, lr = shift */
        ldrd    r6, r7, [r4, #8]        /* the rounding term, 2^(shift-1) */
        sub     sp, sp, #16
        strd    r6, r7, [sp]            /* [sp]: the rounding term */
        add     r6, r5, r3, lsl #3      /* [sp, #8]: the end of ph (D x 4 halfwords) */
        str     r6, [sp, #8]
        mov     r3, r5                  /* r3 = ph */

/* Component k's products: r8 its weight word (loaded), [r2, #off] its input pairs. */
.macro MACS off, first
        ldrd    r9, r10, [r2, #\off]    /* (u_i, u_i+2), (u_i+1, u_i+3) */
        sxtb16  r11, r8                 /* (w_i, w_i+2) */
        sxtb16  r8, r8, ror #8          /* (w_i+1, w_i+3) */
.if \first
        smulbb  r4, r11, r9
        smultt  r6, r11, r9
        smulbb  r5, r8, r10
        smultt  r7, r8, r10
.else
        smlabb  r4, r11, r9, r4         /* capsule i */
        smlatt  r6, r11, r9, r6         /* i + 2 */
        smlabb  r5, r8, r10, r5         /* i + 1 */
        smlatt  r7, r8, r10, r7         /* i + 3 */
.endif
.endm

/* One output: the sum in \acc requantised, clamped to +-32767 and stored. r10: shift - 32
 * (high), or 32 - shift (low). */
.macro REQUANT acc, high
        ldrd    r8, r9, [sp]            /* 2^(shift-1) */
        smlal   r8, r9, \acc, r12       /* + acc x mult */
.if \high
        asr     r9, r9, r10             /* >> shift: the high word >> (shift - 32) */
.else
        lsr     r8, r8, lr              /* >> shift: low word >> shift | high word << (32 - shift) */
        lsl     r9, r9, r10
        orr     r9, r9, r8
.endif
        ssat    r9, #16, r9
        cmn     r9, #32768              /* -32768 -> -32767 */
        it      eq
        addeq   r9, r9, #1
        strh    r9, [r3], #2
.endm

/* The loop over d; \high: shift >= 32. */
.macro DLOOP high
1:      ldr     r8, [r0]                /* k = 0 */
        MACS    0, 1
        ldr     r8, [r0, r1]            /* k = 1 */
        MACS    8, 0
        add     r0, r0, r1, lsl #1
        ldr     r8, [r0]                /* k = 2 */
        MACS    16, 0
        ldr     r8, [r0, r1]            /* k = 3 */
        MACS    24, 0
        add     r0, r0, r1, lsl #1      /* the next d */
.if \high
        sub     r10, lr, #32
.else
        rsb     r10, lr, #32
.endif
        REQUANT r4, \high
        REQUANT r5, \high
        REQUANT r6, \high
        REQUANT r7, \high
        ldr     r8, [sp, #8]
        cmp     r3, r8
        bne     1b
.endm

        cmp     lr, #32
        blt     2f
        DLOOP   1
        b       3f
2:      DLOOP   0
3:
        add     sp, sp, #16
        pop     {r4-r11, pc}
        .size   capsrt_dsp_predict_block4, .-capsrt_dsp_predict_block4
