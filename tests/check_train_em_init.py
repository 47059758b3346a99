#!/usr/bin/python3
"""train_em.py --init (a second training stage, em_mnist's recipe) starts from the given weights,
with the spread loss's margin at 0.9 from its first step, and refuses weights of another config.

A first stage trains the c8 network on the first 40 MNIST training images for one epoch (one batch
of 40, 1 thread). A second stage starts from its --final at learning rate 0: its weights must come
out equal to the first stage's, and its one step's loss must equal the spread loss at margin 0.9
that em_modules' plain PyTorch routing gives for those weights on those 40 images (training mode:
BatchNorm on the batch's statistics), computed here; its history must carry the first stage's
history as "first_stage". A stage with --config yl1993 on the c8 weights
must fail with a message that names --init.

    check_train_em_init.py WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import em_modules as em  # noqa: E402
from train import load  # noqa: E402
from train_em import CONFIGS  # noqa: E402

N = 40
MEAN, STD = 0.1307, 0.3081  # train_em.py's input normalisation, written here independently


def train(work, name, *extra):
    cmd = [sys.executable, os.path.join(ROOT, "tools", "train", "train_em.py"), "--dataset", "mnist", "--epochs", "1",
           "--limit", str(N), "--batch", str(N), "--threads", "1", "--state", os.path.join(work, name),
           "--final", os.path.join(work, name + ".pt"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True)


def main():
    work = sys.argv[1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    first = train(work, "first", "--config", "c8")
    if first.returncode != 0:
        sys.exit(f"first stage failed:\n{first.stdout}{first.stderr}")
    weights = os.path.join(work, "first.pt")
    second = train(work, "second", "--config", "c8", "--lr", "0", "--init", weights)
    if second.returncode != 0:
        sys.exit(f"second stage failed:\n{second.stdout}{second.stderr}")

    a, b = torch.load(weights), torch.load(os.path.join(work, "second.pt"))
    for k in a:
        if "running_" in k or "num_batches" in k:
            continue  # BatchNorm's statistics move in training whatever the learning rate
        if not torch.equal(a[k], b[k]):
            sys.exit(f"at learning rate 0 the second stage changed {k} (by up to {(a[k] - b[k]).abs().max().item()}): "
                     "it did not start from --init's weights")

    model = em.CapsNet(**CONFIGS["c8"])
    model.load_state_dict(a)
    model.train().set_fast(False)
    x, y = load("mnist", "train")
    with torch.no_grad():
        want = em.spread_loss(model((x[:N] - MEAN) / STD), y[:N], 0.9).item()
    record = json.load(open(os.path.join(work, "second.history.json")))
    got = record["history"][0]["loss"]
    if record.get("first_stage") != json.load(open(os.path.join(work, "first.history.json"))):
        sys.exit("the second stage's history does not carry the first stage's as first_stage")
    if abs(got - want) > 1e-5 * max(1.0, abs(want)):
        sys.exit(f"the second stage's loss {got} is not the spread loss at margin 0.9 of the first stage's weights, {want}")

    wrong = train(work, "wrong", "--config", "yl1993", "--init", weights)
    if wrong.returncode == 0 or "--init" not in wrong.stderr:
        sys.exit(f"a c8 state_dict given to a yl1993 run: status {wrong.returncode}\n{wrong.stdout}{wrong.stderr}")
    print(f"--init: weights carried over, loss {got:.6f} = spread loss at margin 0.9 ({want:.6f}); "
          f"the wrong config refused: {wrong.stderr.strip().splitlines()[-1][:120]}")


if __name__ == "__main__":
    main()
