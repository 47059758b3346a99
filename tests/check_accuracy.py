#!/usr/bin/python3
"""A shipped model, converted with capsconv and evaluated with capsrun, against PyTorch's own
answers on the same test images (models/<name>.pytorch.json, made by
tools/train/pytorch_predictions.py from the same checkpoint).

    check_accuracy.py NAME --build DIR --images IDX --labels IDX --work DIR [--limit N]
    check_accuracy.py NAME ... --agree-with reference   # also: the best kernel set here against
                                                         # the reference set, image by image

The kernel set is capsrun's: CAPSRT_KERNELS, else the best this CPU runs.

Tolerances. capsrt sums in float32 in another order than PyTorch (and its SIMD kernels in
another order than its reference kernels), so a prediction may flip where the two longest class
capsules differ by less than the rounding. Allowed: 1 image in 2,000 (5 of the 10,000 test
images, 0.05 percentage points; 1 of 1,000) for the number correct against PyTorch's number, and
for the images whose predicted class differs from PyTorch's; 1 in 10,000 (at least 1) for the
images where the SIMD and reference kernel sets disagree.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys

import shipped_models  # tests/shipped_models.py


def run_capsrun(args, caps, limit, kernels=None):
    cmd = [os.path.join(args.build, "tools", "capsrun"), caps, "--idx-images", args.images,
           "--idx-labels", args.labels, "--eval", "--json", "-q"]
    if limit:
        cmd += ["--limit", str(limit)]
    if kernels:
        cmd += ["--kernels", kernels]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"capsrun failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--build", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    ap.add_argument("--agree-with", help="also compare with this kernel set, image by image")
    args = ap.parse_args()

    torch_ref = shipped_models.torch_predictions(args.name)
    os.makedirs(args.work, exist_ok=True)
    caps = shipped_models.convert(args.build, args.name, os.path.join(args.work, args.name + ".caps"))

    limit = args.limit
    reference_limit = os.environ.get("CAPSRT_REFERENCE_LIMIT")
    if reference_limit and os.environ.get("CAPSRT_KERNELS") == "reference" and not limit:
        limit = int(reference_limit)  # the reference kernels' speed, not the test's wish
    out = run_capsrun(args, caps, limit)
    n = out["count"]
    ours = out["predicted"]
    theirs = torch_ref["predicted"][:n]
    with open(args.labels, "rb") as f:
        data = f.read()
    if args.labels.endswith(".gz"):
        data = gzip.decompress(data)
    labels = list(data[8:8 + n])
    torch_correct = sum(int(p == t) for p, t in zip(theirs, labels))
    differ = sum(int(a != b) for a, b in zip(ours, theirs))
    tolerance = max(1, n // 2000)
    print(f"{args.name}: kernels {out['kernels']}, {n} images: capsrt {out['correct']} correct, "
          f"PyTorch {torch_correct}; predictions differ on {differ} (tolerance {tolerance} each)")
    failed = []
    if abs(out["correct"] - torch_correct) > tolerance:
        failed.append(f"capsrt gets {out['correct']} right, PyTorch {torch_correct}")
    if differ > tolerance:
        failed.append(f"{differ} predictions differ from PyTorch's")

    if args.agree_with:
        # The run above already used the detected best set unless CAPSRT_KERNELS chose another.
        best = out if not os.environ.get("CAPSRT_KERNELS") else run_capsrun(args, caps, limit, "auto")
        other = run_capsrun(args, caps, limit, args.agree_with)
        disagree = [k for k, (a, b) in enumerate(zip(best["predicted"], other["predicted"])) if a != b]
        allowed = max(1, n // 10000)
        print(f"{args.name}: {best['kernels']} and {other['kernels']} agree on {n - len(disagree)} of {n} "
              f"(tolerance {allowed}){'; differ on ' + str(disagree[:10]) if disagree else ''}")
        if len(disagree) > allowed:
            failed.append(f"{best['kernels']} and {other['kernels']} disagree on {len(disagree)} images")
    if failed:
        sys.exit("FAIL: " + "; ".join(failed))


if __name__ == "__main__":
    main()
