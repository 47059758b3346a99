/* The predictions of the armv7em-dsp int8 CapsDense (caps_dense_q.cpp says the blocking) for 4
 * input capsules i .. i+3 of 4 components and one class j, requantised: ph[d * 4 + l] =
 * clamp(requantize(sum_k W[j, d, k, i + l] u[i + l, k], mult, shift), +-32767) for d < D, as
 * ref::caps_dense_q's predict does, for a shift >= 18 (the caller checks; predict_block in
 * caps_dense_q.cpp is the same computation in C, for the other cases).
 *
 *   void capsrt_dsp_predict_block4(const int8_t* w, int32_t I, const uint32_t* u, int32_t D,
 *                                  const int32_t* rq, int16_t* ph, int32_t J);
 *
 * for the classes j = 0 .. J-1 in turn (one call a block: the per-call work in C cost as much as
 * the requantisation):
 * w: W[0, 0, 0, i] in JDKI (input capsule fastest: each (d, k) is one word of 4 capsules, the
 *    next k I bytes on, the next d 4 I bytes on, the next class 4 D I bytes on); u: 8 words, per
 *    k the 4 capsules' component k widened by SXTB16 into (i, i+2) and (i+1, i+3) int16 pairs;
 *    rq: per class 4 words {mult, shift, a, e}, a and e below; ph: [J, D, 4] int16, word
 *    aligned.
 * Per (d, k): one word of weights widened the same way and 4 halfword multiply-accumulates
 * (SMLABB/SMLATT: one capsule each; SMLAD's pair sums do not apply within a capsule).
 * Per output, the requantisation (acc mult + 2^(shift-1)) >> shift in two instructions, exactly:
 *  - shift <= 32: SMMULR(acc << a, mult) with a = 32 - shift. The product is scaled by 2^a, and
 *    SMMULR's rounding term 2^31 is 2^(shift-1) scaled the same way; acc << a fits 32 bits, as
 *    |acc| <= 4 x 128 x 127 < 2^16 (the sum of 4 int8 products; 4 x 128 x 128 = 2^16 only when
 *    every weight is -128, so shift 17 is left to C) and a <= 14.
 *  - shift >= 33: SMMLA(acc, mult, a) >> e with a = 2^(shift-33), e = shift - 32: the rounding
 *    term's low word is 0, so it adds exactly a to the product's high word, and the low word
 *    cannot reach the result.
 * then SSAT to 16 bits; two outputs are packed into a word (PKHBT) and -32768 becomes -32767 by
 * two saturating negations (QSUB16 from 0), and a doubleword store writes the 4.
 * Written in assembly because GCC 12 kept the widened inputs on the stack and took the 64-bit
 * rounding apart (about 41 instructions an output in C, 11 here). Thumb-2, DSP extension. */
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
        ldr     r6, [sp, #44]           /* J */
        sub     sp, sp, #24
        /* [sp]: a, e of the class; [sp, #8]: rq of the class; [sp, #12]: the classes left;
           [sp, #16]: w of the class; [sp, #20]: D */
        str     r4, [sp, #8]
        str     r6, [sp, #12]
        str     r0, [sp, #16]
        str     r3, [sp, #20]
        mov     r3, r5                  /* r3 = ph */
4:      /* class j: r4 = its rq */
        ldr     r12, [r4]               /* r12 = mult */
        ldr     r6, [r4, #4]            /* shift */
        ldrd    r8, r9, [r4, #8]        /* a, e */
        strd    r8, r9, [sp]
        ldr     r0, [sp, #16]           /* W[j, 0, 0, i] */
        ldr     r5, [sp, #20]
        add     lr, r3, r5, lsl #3      /* lr: the end of the class's ph (D x 4 halfwords) */

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

/* One output: the sum in \acc requantised and saturated to 16 bits, in place. r10 = a, r11 = e. */
.macro REQUANT acc, high
.if \high
        smmla   r8, \acc, r12, r10
        asr     r8, r8, r11
.else
        lsl     r8, \acc, r10
        smmulr  r8, r8, r12
.endif
        ssat    \acc, #16, r8
.endm

/* The loop over d; \high: shift >= 33. */
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
        ldrd    r10, r11, [sp]
        REQUANT r4, \high
        REQUANT r5, \high
        REQUANT r6, \high
        REQUANT r7, \high
        pkhbt   r4, r4, r5, lsl #16     /* (i, i+1) */
        pkhbt   r6, r6, r7, lsl #16     /* (i+2, i+3) */
        mov     r8, #0
        qsub16  r4, r8, r4              /* -x, saturated: -32768 -> 32767 */
        qsub16  r4, r8, r4              /* x, with -32768 -> -32767 */
        qsub16  r6, r8, r6
        qsub16  r6, r8, r6
        strd    r4, r6, [r3], #8
        cmp     r3, lr
        bne     1b
.endm

        cmp     r6, #32
        ble     2f
        DLOOP   1
        b       3f
2:      DLOOP   0
3:      /* the next class: w moves 4 D I bytes on (r0 has moved 4 D I already) */
        str     r0, [sp, #16]
        ldr     r4, [sp, #8]
        add     r4, r4, #16
        str     r4, [sp, #8]
        ldr     r5, [sp, #12]
        subs    r5, r5, #1
        str     r5, [sp, #12]
        bne     4b
        add     sp, sp, #24
        pop     {r4-r11, pc}
        .size   capsrt_dsp_predict_block4, .-capsrt_dsp_predict_block4
