#!/usr/bin/env python3
"""The int8-only build links no floating-point routine (issue 13).

    check_no_float.py NM PROGRAM

Lists PROGRAM's symbols with NM (arm-none-eabi-nm) and fails if any is a soft-float routine of
the ARM run-time ABI (__aeabi_f*, __aeabi_d*: float and double arithmetic, comparisons and
conversions) or of libgcc (__addsf3, __divdf3, __floatsisf, __fixdfsi, ...: names ending in sf
or df with their digit). On a core without an FPU every float or double operation compiles to
a call of one of these, so their absence proves the int8 path does none. It also checks that
the program does contain the int8 path (caps_invoke and the reference int8 convolution), so the
test cannot pass on an empty program.
"""
import re
import subprocess
import sys

FLOAT = re.compile(r"^(__aeabi_[fd]\w*|__\w+[sd]f[0-9]?|__\w+[sd]f[0-9]?[sd]f[0-9]?)$")


def main():
    nm, program = sys.argv[1], sys.argv[2]
    out = subprocess.run([nm, "--defined-only", program], capture_output=True, text=True, check=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    floats = sorted(n for n in names if FLOAT.match(n))
    needed = ["caps_invoke", "caps_model_load"]
    missing = [n for n in needed if n not in names]
    has_conv = any("conv2d_q" in n for n in names)
    print(f"{program}: {len(names)} symbols; floating-point routines: {', '.join(floats) or 'none'}")
    if missing or not has_conv:
        sys.exit(f"FAIL: the int8 path is not in the program (missing {missing}, int8 conv {has_conv})")
    if floats:
        sys.exit("FAIL: floating-point routines linked: " + ", ".join(floats))


if __name__ == "__main__":
    main()
