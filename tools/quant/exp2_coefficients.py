#!/usr/bin/python3
"""The polynomial behind capsrt's integer exp (kernels/fixed_point.h, fx::exp_neg_q30).

2^-t on [0, 1) is approximated by p(t) = 1 + t*(a1 + t*(a2 + ... + t*a6)): p(0) is exactly 1, so
exp(0) is exactly 1.0 in Q30 and a softmax of equal logits is exactly uniform. a1..a6 are the
least-squares fit of (2^-t - 1)/t on 2001 Chebyshev points of [0, 1] (numpy), rounded to Q30.
This prints them and the fit's worst error against 2^-t in double precision and in the Q30
integer evaluation the runtime does (Horner, round-half-up shifts), over every t of the Q16 grid.

    /usr/bin/python3 tools/quant/exp2_coefficients.py
"""
import numpy as np

DEG = 6
x = (1 - np.cos(np.pi * (np.arange(2001) + 0.5) / 2001)) / 2          # Chebyshev points of [0,1]
g = (2.0 ** -x - 1) / x
a = np.polynomial.polynomial.polyfit(x, g, DEG - 1)                    # a[0] + a[1] t + ...
q = [int(round(c * 2 ** 30)) for c in a]
print("coefficients a1..a%d in Q30:" % DEG, q)

def horner_q30(t_q30):
    p = q[-1]
    for c in reversed(q[:-1]):
        p = ((p * t_q30 + (1 << 29)) >> 30) + c
    return (1 << 30) + ((p * t_q30 + (1 << 29)) >> 30)

t16 = np.arange(65536)
exact = 2.0 ** (-t16 / 65536.0)
ints = np.array([horner_q30(int(t) << 14) for t in t16], dtype=np.float64) / 2 ** 30
print("max |p(t) - 2^-t| on the Q16 grid, integer Horner: %.3g" % np.abs(ints - exact).max())
