#!/usr/bin/python3
"""capsrun's .npy and RGB inputs against inputs it already reads, with files written by NumPy and
PIL themselves (Debian's python3-numpy and python3-pil), not by capsrt:

  1. A small MNIST model on the first 12 test images: the IDX file, a uint8 stack (12, 1, 28, 28)
     saved by numpy.save, one image saved as (1, 28, 28), and a float32 stack of pixel / 255 (the
     model's input values) must give the same classes, and scores within 1e-5 (the float stack's
     values are NumPy's float32 divisions, the runtime's its multiplication by 1/255).
  2. A 3-channel model (the CIFAR-kind tiny checkpoint, converted with its architecture file):
     random RGB pictures of its 16x18 input saved as PNG by PIL, and the same pixels as a uint8
     (N, 3, 16, 18) .npy (channels first), must give the same scores: capsrun's RGB path puts
     PIL's interleaved pixels in the model's CHW order. The same for its int8 conversion,
     calibrated on a uint8 .npy stack (capsconv --calib), whose wrong size is refused.
  3. Refusals, each with a message naming the shapes or the dtype: a wrong shape, float64,
     Fortran order.

    check_npy.py --capsrun BIN --capsconv BIN --model SMALL.caps --images IDX --checkpoints DIR --work DIR
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image


def run(cmd, expect_ok=True):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def results(capsrun, model, args):
    out = run([capsrun, model, "--json", "--top", "20", "-q", "--threads", "1"] + args).stdout
    items = json.loads(out)["results"]
    return [(r["top"][0]["class"], {t["class"]: t["score"] for t in r["top"]}) for r in items]


def same(a, b, what, tol):
    if len(a) != len(b):
        sys.exit(f"{what}: {len(a)} against {len(b)} results")
    worst = 0.0
    for k, ((c1, s1), (c2, s2)) in enumerate(zip(a, b)):
        if c1 != c2:
            sys.exit(f"{what}: input {k} classified {c1} against {c2}")
        for c in s1:
            worst = max(worst, abs(s1[c] - s2[c]))
    if worst > tol:
        sys.exit(f"{what}: scores differ by {worst} (> {tol})")
    print(f"{what}: {len(a)} inputs, same classes, scores within {worst:.2e}")


def read_idx(path, n):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    rows, cols = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
    return np.frombuffer(raw[16:16 + n * rows * cols], dtype=np.uint8).reshape(n, 1, rows, cols)


def main():
    ap = argparse.ArgumentParser()
    for a in ("--capsrun", "--capsconv", "--model", "--images", "--checkpoints", "--work"):
        ap.add_argument(a, required=True)
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    w = lambda name: os.path.join(args.work, name)

    # 1. MNIST-sized inputs, four ways.
    n = 12
    x = read_idx(args.images, n)
    np.save(w("stack_u8.npy"), x)
    np.save(w("one_u8.npy"), x[3])
    np.save(w("stack_f32.npy"), (x.astype(np.float32) / np.float32(255)))
    from_idx = results(args.capsrun, args.model, ["--idx-images", args.images, "--limit", str(n)])
    same(from_idx, results(args.capsrun, args.model, [w("stack_u8.npy")]), "uint8 stack against IDX", 0.0)
    same(from_idx[3:4], results(args.capsrun, args.model, [w("one_u8.npy")]), "one uint8 image against IDX", 0.0)
    same(from_idx, results(args.capsrun, args.model, [w("stack_f32.npy")]), "float32 stack against IDX", 1e-5)

    # 2. RGB: PNG written by PIL against the same pixels as a channels-first .npy.
    arch = os.path.join(args.checkpoints, "tiny_cifar_arch.json")
    rgb_model = w("tiny_cifar.caps")
    run([args.capsconv, os.path.join(args.checkpoints, "tiny_cifar.pt"), "--arch", arch, "-o", rgb_model, "-q"])
    rng = np.random.default_rng(7)
    pics = rng.integers(0, 256, size=(4, 16, 18, 3), dtype=np.uint8)  # HWC, as images are
    pngs = []
    for k, p in enumerate(pics):
        path = w(f"rgb_{k}.png")
        Image.fromarray(p, "RGB").save(path)
        pngs.append(path)
    np.save(w("rgb_chw.npy"), np.ascontiguousarray(pics.transpose(0, 3, 1, 2)))
    same(results(args.capsrun, rgb_model, pngs), results(args.capsrun, rgb_model, [w("rgb_chw.npy")]),
         "RGB PNGs against a channels-first uint8 stack", 0.0)
    # The int8 model of it, calibrated on a uint8 .npy stack, takes the same two inputs alike.
    np.save(w("rgb_calib.npy"), rng.integers(0, 256, size=(20, 3, 16, 18), dtype=np.uint8))
    rgb_int8 = w("tiny_cifar.int8.caps")
    run([args.capsconv, os.path.join(args.checkpoints, "tiny_cifar.pt"), "--arch", arch, "--quantize", "int8",
         "--calib", w("rgb_calib.npy"), "-o", rgb_int8, "-q"])
    same(results(args.capsrun, rgb_int8, pngs), results(args.capsrun, rgb_int8, [w("rgb_chw.npy")]),
         "int8 model (calibrated on a .npy stack): RGB PNGs against the uint8 stack", 0.0)
    np.save(w("rgb_calib_wrong.npy"), rng.integers(0, 256, size=(4, 3, 16, 17), dtype=np.uint8))
    p = run([args.capsconv, os.path.join(args.checkpoints, "tiny_cifar.pt"), "--arch", arch, "--quantize", "int8",
             "--calib", w("rgb_calib_wrong.npy"), "-o", w("x.caps"), "-q"], expect_ok=False)
    if p.returncode != 3 or "(4, 3, 16, 17) uint8; calibration takes uint8 pixels (N, 3, 16, 18)" not in p.stderr:
        sys.exit(f"a calibration stack of the wrong size: status {p.returncode}: {p.stderr}")
    print(f"rgb_calib_wrong.npy: refused ({p.stderr.strip()})")

    # 3. Refusals.
    np.save(w("wrong_shape.npy"), x[:, :, :27, :])
    np.save(w("float64.npy"), x.astype(np.float64))
    np.save(w("fortran.npy"), np.asfortranarray(x[0:2].astype(np.float32)))
    for name, needle in (("wrong_shape.npy", "(12, 1, 27, 28) uint8; the model takes (1, 28, 28), or a stack (N, 1, 28, 28)"),
                         ("float64.npy", "dtype '<f8'"), ("fortran.npy", "Fortran-order")):
        p = run([args.capsrun, args.model, w(name)], expect_ok=False)
        if p.returncode == 0 or needle not in p.stderr:
            sys.exit(f"{name}: expected a refusal saying '{needle}', got status {p.returncode}: {p.stderr}")
        print(f"{name}: refused ({p.stderr.strip()})")


if __name__ == "__main__":
    main()
