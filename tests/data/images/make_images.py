#!/usr/bin/python3
"""Writes the image fixtures of capsrun's tests from the official MNIST test set (data/mnist, see
tools/data/get_data.sh) with Debian's python3-pil. Run from the repository root:
    /usr/bin/python3 tests/data/images/make_images.py
"""
import os
import numpy as np
from PIL import Image

root = os.path.dirname(os.path.abspath(__file__))
raw = open(os.path.join(root, "..", "..", "..", "data", "mnist", "t10k-images-idx3-ubyte"), "rb").read()
labels = open(os.path.join(root, "..", "..", "..", "data", "mnist", "t10k-labels-idx1-ubyte"), "rb").read()[8:]
images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)

def digit(k):
    return Image.fromarray(images[k], mode="L")

# Test-set images 0..3 (labels 7, 2, 1, 0) in four formats, as they are (28x28, light on dark).
digit(0).save(os.path.join(root, "mnist_0_label7.png"))
digit(1).save(os.path.join(root, "mnist_1_label2.bmp"))
digit(2).save(os.path.join(root, "mnist_2_label1.pgm"))
digit(3).convert("RGB").save(os.path.join(root, "mnist_3_label0.jpg"), quality=95)
# Image 4 (label 4) as a "photo": dark ink on light paper, 3x larger and not square (90x120 RGB).
big = digit(4).resize((84, 84), Image.BICUBIC)
paper = Image.new("L", (90, 120), 0)
paper.paste(big, (3, 18))
photo = Image.eval(paper, lambda v: 235 - int(v * 0.85)).convert("RGB")
photo.save(os.path.join(root, "photo_label4.jpg"), quality=92)
print("labels:", list(labels[:5]))
