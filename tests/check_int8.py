#!/usr/bin/python3
"""A shipped model's int8 conversion against its float one (issue 13's accuracy targets,
docs/fixed-point.md): capsconv writes both (the int8 one calibrated on the first 1,000 images of
the dataset's training set), capsrun evaluates the int8 model with --compare on the float model,
and the test requires

  - int8 accuracy at most 0.15 percentage points below float (at most 15 of 10,000 fewer
    correct), and
  - top-1 agreement with the float model of at least 99.5% (at most 50 of 10,000 differ).

The float model's own accuracy is checked against PyTorch by check_accuracy.py.

    check_int8.py NAME --build DIR --images IDX --labels IDX --calib IDX --work DIR [--limit N] [--smoke]

On a subset (--limit N) the two bounds scale with N, rounded down (2,000 images: 3 and 10).
--smoke (the sanitizer builds) runs the whole path and prints the figures without holding them
to the bounds: a few dozen images say nothing about 0.15 points.
"""
import argparse
import json
import os
import subprocess
import sys

import shipped_models  # tests/shipped_models.py


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name")
    ap.add_argument("--build", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--calib", required=True, help="training images for the calibration")
    ap.add_argument("--work", required=True)
    ap.add_argument("--limit", type=int, default=0, help="first N test images (0: all)")
    ap.add_argument("--smoke", action="store_true", help="run and print, do not hold to the bounds")
    ap.add_argument("--calib-count", type=int, default=1000, help="calibration images")
    args = ap.parse_args()

    os.makedirs(args.work, exist_ok=True)
    float_caps = shipped_models.convert(args.build, args.name, os.path.join(args.work, args.name + ".caps"))
    int8_caps = shipped_models.convert(args.build, args.name, os.path.join(args.work, args.name + ".int8.caps"),
                                       "--quantize", "int8", "--calib", args.calib,
                                       "--calib-count", str(args.calib_count))

    cmd = [os.path.join(args.build, "tools", "capsrun"), int8_caps, "--idx-images", args.images,
           "--idx-labels", args.labels, "--eval", "--json", "-q", "--compare", float_caps]
    limit = args.limit
    reference_limit = os.environ.get("CAPSRT_REFERENCE_LIMIT")
    if reference_limit and os.environ.get("CAPSRT_KERNELS") == "reference" and not limit:
        limit = int(reference_limit)  # the reference kernels' speed, not the test's wish
    if limit:
        cmd += ["--limit", str(limit)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"capsrun failed ({r.returncode}): {r.stderr}")
    out = json.loads(r.stdout)
    n = out["count"]
    int8_correct, float_correct = out["correct"], out["compare"]["correct"]
    differ = out["compare"]["differ"]
    allowed_loss = (15 * n) // 10000
    allowed_differ = (50 * n) // 10000
    print(f"{args.name}: kernels {out['kernels']}, {n} images: int8 {int8_correct} correct "
          f"({100.0 * int8_correct / n:.2f}%), float {float_correct} ({100.0 * float_correct / n:.2f}%); "
          f"{differ} predictions differ ({100.0 * (n - differ) / n:.2f}% agreement); int8 file "
          f"{os.path.getsize(int8_caps)} bytes, float {os.path.getsize(float_caps)}")
    failed = []
    if float_correct - int8_correct > allowed_loss:
        failed.append(f"int8 gets {float_correct - int8_correct} fewer right (at most {allowed_loss})")
    if differ > allowed_differ:
        failed.append(f"{differ} predictions differ from the float model's (at most {allowed_differ})")
    if failed and not args.smoke:
        sys.exit("FAIL: " + "; ".join(failed))


if __name__ == "__main__":
    main()
