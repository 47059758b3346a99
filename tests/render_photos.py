#!/usr/bin/python3
"""Renders test-set images as photographs of them: what a user gets by printing or writing a digit
(or showing a piece of clothing) on paper and taking a picture. With Debian's python3-pil and
python3-numpy, seeded, so the same arguments give the same files.

    render_photos.py --images IDX --labels IDX --out DIR [--count 500] [--seed 14] [--sheet-edge]

Each render takes one test image chosen at random (without repeats) and:
  - turns it into ink on paper: the dataset's light-on-black pixel v becomes paper where v = 0
    and the ink's level where v = 255 (dark on light, as written or printed);
  - scales it up 4 to 10 times (bicubic) and rotates it by -10 to +10 degrees;
  - places it at a random position on a canvas 1.3 to 2.5 times its size each way (off-centre);
  - blurs it (Gaussian, up to half a dataset pixel);
  - sets the paper's level at 150 to 245 and the ink's contrast against it at 60 to 200 levels
    (never below 0), with light falling off by up to 15% across the picture each way;
  - tints it (each colour channel x 0.92..1.08), adds Gaussian noise (sigma 1 to 6 levels);
  - saves it as JPEG (quality 70 to 95) or PNG, half and half, as RGB.
With --sheet-edge, the photo also shows the table beyond the sheet's edge along one side: a
straight edge tilted by up to 5 degrees, 4% to 15% of the picture in, the table at 20 to 120
levels with its own noise (the object is never under it).
DIR gets the pictures and manifest.json: for each, the file, the label, the test-set index and the
parameters drawn. Nothing here knows how capsrun preprocesses: the renders only undo the datasets'
own making (docs/capsrun.md).
"""
import argparse
import gzip
import json
import os

import numpy as np
from PIL import Image, ImageFilter


def read_idx(path):
    raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
    magic = int.from_bytes(raw[0:4], "big")
    if magic == 0x803:
        n, h, w = (int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(3))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, h, w)
    if magic == 0x801:
        return np.frombuffer(raw, np.uint8, offset=8)
    raise SystemExit(f"{path}: not an IDX image or label file")


def render(item, rng, sheet_edge=False):
    p = {}
    h, w = item.shape
    p["scale"] = float(rng.uniform(4, 10))
    p["rotation_deg"] = float(rng.uniform(-10, 10))
    side = int(round(w * p["scale"]))
    ink = Image.fromarray(item, "L").resize((side, side), Image.BICUBIC)
    ink = ink.rotate(p["rotation_deg"], resample=Image.BICUBIC, expand=True)
    canvas_w = int(round(side * rng.uniform(1.3, 2.5)))
    canvas_h = int(round(side * rng.uniform(1.3, 2.5)))
    x = int(rng.integers(0, max(1, canvas_w - ink.width + 1)))
    y = int(rng.integers(0, max(1, canvas_h - ink.height + 1)))
    p.update(canvas=[canvas_w, canvas_h], position=[x, y])
    sheet = Image.new("L", (max(canvas_w, ink.width), max(canvas_h, ink.height)), 0)
    sheet.paste(ink, (x, y))
    sheet = sheet.crop((0, 0, canvas_w, canvas_h))
    p["blur_px"] = float(rng.uniform(0, 0.5) * p["scale"])
    if p["blur_px"] > 0.05:
        sheet = sheet.filter(ImageFilter.GaussianBlur(p["blur_px"]))
    darkness = np.asarray(sheet, np.float64) / 255.0
    p["paper"] = float(rng.uniform(150, 245))
    p["contrast"] = float(min(p["paper"], rng.uniform(60, 200)))
    p["light_falloff"] = [float(rng.uniform(-0.15, 0.15)), float(rng.uniform(-0.15, 0.15))]
    yy, xx = np.mgrid[0:canvas_h, 0:canvas_w]
    light = 1 + p["light_falloff"][0] * (xx / canvas_w - 0.5) + p["light_falloff"][1] * (yy / canvas_h - 0.5)
    gray = (p["paper"] - p["contrast"] * darkness) * light
    if sheet_edge:
        side = int(rng.integers(0, 4))  # 0 left, 1 right, 2 top, 3 bottom
        across = canvas_w if side < 2 else canvas_h
        along = canvas_h if side < 2 else canvas_w
        depth = rng.uniform(0.04, 0.15) * across
        # keep the object clear: no deeper than the gap between it and that side
        gap = [x, canvas_w - x - ink.width, y, canvas_h - y - ink.height][side]
        depth = max(2.0, min(depth, gap - 4))
        tilt = np.tan(np.radians(rng.uniform(-5, 5)))
        t = (yy if side < 2 else xx) - along / 2
        dist = (xx if side < 2 else yy) if side in (0, 2) else (across - 1 - (xx if side < 2 else yy))
        table = dist < depth + tilt * t
        p["sheet_edge"] = {"side": ["left", "right", "top", "bottom"][side], "depth": float(depth),
                           "tilt": float(tilt), "table": float(rng.uniform(20, 120))}
        gray = np.where(table, p["sheet_edge"]["table"] + rng.normal(0, 4, size=gray.shape), gray)
    p["tint"] = [float(t) for t in rng.uniform(0.92, 1.08, size=3)]
    p["noise"] = float(rng.uniform(1, 6))
    rgb = gray[:, :, None] * np.array(p["tint"])[None, None, :]
    rgb += rng.normal(0, p["noise"], size=rgb.shape)
    return Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB"), p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--sheet-edge", action="store_true", help="show the table beyond one edge of the sheet")
    args = ap.parse_args()
    images, labels = read_idx(args.images), read_idx(args.labels)
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(len(images), size=args.count, replace=False)
    os.makedirs(args.out, exist_ok=True)
    manifest = []
    for n, index in enumerate(chosen):
        picture, params = render(images[index], rng, args.sheet_edge)
        if rng.uniform() < 0.5:
            params["quality"] = int(rng.integers(70, 96))
            name = f"{n:04d}_label{labels[index]}.jpg"
            picture.save(os.path.join(args.out, name), quality=params["quality"])
        else:
            name = f"{n:04d}_label{labels[index]}.png"
            # (zlib's fastest level: the same pixels, three times faster to write than the default
            # level on these noisy pictures)
            picture.save(os.path.join(args.out, name), compress_level=1)
        manifest.append({"file": name, "label": int(labels[index]), "index": int(index), "params": params})
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"images": args.images, "seed": args.seed, "count": args.count, "sheet_edge": args.sheet_edge,
                   "renders": manifest}, f, indent=1)


if __name__ == "__main__":
    main()
