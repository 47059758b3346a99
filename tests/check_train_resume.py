#!/usr/bin/python3
"""Resuming tools/train/train.py (or, with `em`, train_em.py) after a stop gives the run an
uninterrupted one would have given.

Trains the small network on the first 600 MNIST training images for 2 epochs of 6 steps (1 thread,
so that PyTorch's arithmetic is repeatable, the state saved every 2 steps), once straight through
and once stopped three times by --stop-after: within epoch 1 (after its step 4), at the end of
epoch 1 (step 6), and within epoch 2 (after its step 2). The two final state_dicts must be equal
bit for bit and the two histories must agree. The EM network (config c8, the
smallest: resuming does not depend on the sizes, and the test takes about half yl1993's time): 120
images in batches of 20, for 3 epochs, annealing after the first every second epoch (--anneal-after 1 --anneal-every 2): epoch 2
runs at a tenth of epoch 1's learning rate, which a resumed run must not cut again, and epoch 3 at
epoch 2's; its images are shifted at random (--shift 2), from the generator the state saves.

    check_train_resume.py WORK_DIR [em]
"""
import json
import os
import shutil
import subprocess
import sys

import torch

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
EM = len(sys.argv) > 2 and sys.argv[2] == "em"
RECIPE = ([os.path.join(ROOT, "tools", "train", "train_em.py"), "--limit", "120", "--batch", "20", "--anneal-after", "1",
           "--anneal-every", "2", "--shift", "2", "--config", "c8"]
          if EM else
          [os.path.join(ROOT, "tools", "train", "train.py"), "--arch", "small", "--limit", "600"])
EPOCHS = 3 if EM else 2


def train(work, name, *extra):
    cmd = [sys.executable, *RECIPE, "--dataset", "mnist", "--epochs", str(EPOCHS), "--threads", "1", "--save-every", "2",
           "--state", os.path.join(work, name), "--final", os.path.join(work, name + ".pt"), *extra]
    return subprocess.run(cmd, capture_output=True, text=True)


def main():
    work = sys.argv[1]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    straight = train(work, "straight")
    if straight.returncode != 0:
        sys.exit(f"uninterrupted run failed:\n{straight.stdout}{straight.stderr}")
    for stop, resumed_from in ((4, None), (6, "resuming epoch 1 after step 4"), (8, "resuming after epoch 1"),
                                (0, "resuming epoch 2 after step 2")):
        r = train(work, "stopped", *(["--stop-after", str(stop)] if stop else []))
        if resumed_from and resumed_from not in r.stdout:
            sys.exit(f"expected '{resumed_from}' in:\n{r.stdout}{r.stderr}")
        want = 3 if stop else 0
        if r.returncode != want:
            sys.exit(f"--stop-after {stop}: exit status {r.returncode}, expected {want}:\n{r.stdout}{r.stderr}")
        if stop and os.path.exists(os.path.join(work, "stopped.pt")):
            sys.exit(f"--stop-after {stop}: the final state_dict was written before the last epoch")

    a = torch.load(os.path.join(work, "straight.pt"))
    b = torch.load(os.path.join(work, "stopped.pt"))
    if a.keys() != b.keys():
        sys.exit(f"different keys: {sorted(a.keys() ^ b.keys())}")
    for k in a:
        if not torch.equal(a[k], b[k]):
            sys.exit(f"{k} differs by up to {(a[k] - b[k]).abs().max().item()}")
    ha = json.load(open(os.path.join(work, "straight.history.json")))["history"]
    hb = json.load(open(os.path.join(work, "stopped.history.json")))["history"]
    for ea, eb in zip(ha, hb):
        # (train_em.py: test_acc after each epoch, test_acc_pytorch after the last; train.py: the latter)
        for key in ("epoch", "loss", "test_acc", "test_acc_pytorch", "lr"):
            if ea.get(key) != eb.get(key):
                sys.exit(f"history differs at epoch {ea['epoch']}, {key}: {ea.get(key)} vs {eb.get(key)}")
    if "test_acc_pytorch" not in ha[-1]:
        sys.exit("the last epoch's history has no test_acc_pytorch")
    if len(ha) != EPOCHS or len(hb) != EPOCHS:
        sys.exit(f"expected {EPOCHS} epochs of history, got {len(ha)} and {len(hb)}")
    if EM and abs(ha[1]["lr"] - 0.1 * ha[0]["lr"]) > 1e-12:
        sys.exit(f"the annealing epoch ran at lr {ha[1]['lr']}, not a tenth of {ha[0]['lr']}")
    if EM and ha[2]["lr"] != ha[1]["lr"]:
        sys.exit(f"epoch 3 ran at lr {ha[2]['lr']}, not epoch 2's {ha[1]['lr']} (--anneal-every 2)")
    print(f"resumed run equals the uninterrupted one: {len(a)} tensors, losses {[e['loss'] for e in ha]}")


if __name__ == "__main__":
    main()
