#!/usr/bin/python3
"""Shipped models on photographs of test-set images: tests/render_photos.py renders them (seeded),
capsconv converts each model as models/models.json says, and capsrun classifies the pictures with
the preprocessing the model records and no options, as a user would run it.

    check_photos.py NAME[,NAME...] --build DIR --images IDX --labels IDX --work DIR
                    --min-accuracy A [--count 500] [--seed 14] [--sheet-edge] [--smoke]

Fails when a model's accuracy on the renders is below A (with --smoke, used under the sanitizers
on a few renders, the figures are printed and the bound is not held: 50 renders are too few for
it). Prints, for the record, beside it: the
accuracy PyTorch reached on the same test images as the dataset has them (models/NAME.pytorch.json),
and what the `none` rule (the whole picture fitted, capsrt's rule before format 1.3) gets on the
same renders.
"""
import argparse
import json
import os
import subprocess
import sys

import shipped_models  # tests/shipped_models.py


def render(args):
    dataset = os.path.basename(os.path.dirname(os.path.abspath(args.images)))  # mnist, fashion-mnist
    edge = "_edge" if args.sheet_edge else ""
    out = os.path.join(args.work, f"renders_{dataset}_{args.seed}_{args.count}{edge}")
    manifest = os.path.join(out, "manifest.json")
    if not os.path.exists(manifest):
        subprocess.run([sys.executable, os.path.join(shipped_models.ROOT, "tests", "render_photos.py"), "--images", args.images,
                        "--labels", args.labels, "--out", out, "--count", str(args.count),
                        "--seed", str(args.seed)] + (["--sheet-edge"] if args.sheet_edge else []), check=True)
    with open(manifest) as f:
        m = json.load(f)
    if (m["images"] != args.images or m["count"] != args.count or m["seed"] != args.seed or
            m.get("sheet_edge", False) != args.sheet_edge):
        sys.exit(f"{manifest} was made from other arguments: remove {out}")
    return out, m["renders"]


def classify(args, caps, files, extra=()):
    cmd = [os.path.join(args.build, "tools", "capsrun"), caps, *files, "--json", "-q", *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"capsrun failed ({r.returncode}): {r.stderr}")
    return [item["top"][0]["index"] for item in json.loads(r.stdout)["results"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("names")
    ap.add_argument("--build", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--min-accuracy", type=float, required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--sheet-edge", action="store_true", help="renders that show the table beyond the sheet")
    ap.add_argument("--smoke", action="store_true", help="print the figures, do not hold the bound")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    out, renders = render(args)
    files = [os.path.join(out, r["file"]) for r in renders]
    labels = [r["label"] for r in renders]
    failed = False
    for name in args.names.split(","):
        caps = shipped_models.convert(args.build, name, os.path.join(args.work, name + ".caps"))
        predicted = classify(args, caps, files)
        correct = sum(p == l for p, l in zip(predicted, labels))
        fitted = classify(args, caps, files, ["--preprocess", "none"])
        fitted_correct = sum(p == l for p, l in zip(fitted, labels))
        torch_pred = shipped_models.torch_predictions(name)["predicted"]
        original = sum(torch_pred[r["index"]] == r["label"] for r in renders)
        n = len(renders)
        ok = correct >= args.min_accuracy * n
        failed = failed or (not ok and not args.smoke)
        verdict = "not held (--smoke)" if args.smoke else "ok" if ok else "FAILED"
        print(f"{name}: {correct} of {n} photos right ({100.0 * correct / n:.1f}%, at least "
              f"{100 * args.min_accuracy:g}% asked): {verdict}; the same {n} test images as the "
              f"dataset has them: {100.0 * original / n:.1f}% (PyTorch); the photos with the whole picture fitted "
              f"(--preprocess none): {100.0 * fitted_correct / n:.1f}%")
        wrong = [(r["file"], r["label"], p) for r, p in zip(renders, predicted) if p != r["label"]]
        if wrong:
            print("  wrong: " + ", ".join(f"{f} ({l} as {p})" for f, l, p in wrong[:20]) +
                  (", ..." if len(wrong) > 20 else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
