#!/usr/bin/python3
"""capsrt against PyTorch on the same shipped checkpoints: batch 1, one thread each, classifier
only (conv1, PrimaryCaps, DigitCaps with 3 routings, lengths), on the MNIST test images.

Both run in the same minutes on the same machine: PyTorch in this process, capsrt in a
caps_timer process (bench/caps_timer.c) that times blocks of images on request. The blocks
alternate (PyTorch, capsrt, PyTorch, ...), so a noisy neighbour or a clock change hits both. Each
side's figure is the median per-image time over all its blocks; the ratio is PyTorch's median over
capsrt's.

PyTorch runs two versions of the network and is credited with the faster: XifengGuo's module
(tools/train/capsnet_modules.py, what users of that code run) and train.py's FastCapsuleNet (same
math, routing as batched matrix products). Both use torch.no_grad() and eval mode.

The EM network (models/em_mnist.pt, matrix capsules with EM routing: conv1 + bn1, PrimaryCaps,
two ConvCaps, ClassCaps, 2 iterations) likewise: yl-1993's module with its plain routing
(tools/train/em_modules.py, that code's formulas and layout) and with the training layout's
routing (same formulas, fewer temporaries), input normalised as it was trained; scores are the
class activations. Skipped when the model is not in models/.

    /usr/bin/python3 bench/compare_pytorch.py [--build build/release] [--reps 15] [--block 20] [--only em]
    CAPSRT_KERNELS=avx2-fma /usr/bin/python3 bench/compare_pytorch.py    # a forced kernel set
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "train"))
import capsnet_modules as cm  # noqa: E402
import em_modules as em  # noqa: E402
from train import ARCHS, FastCapsuleNet, reexec_with_tunables  # noqa: E402

MODELS = [("canonical", "models/canonical_mnist.pt"), ("small", "models/small_mnist.pt"),
          ("em", "models/em_mnist.pt")]


def networks(arch, state, entry):
    """name -> (module, scores of x in 0..1): the PyTorch versions of one network."""
    if arch == "em":
        mean, std = entry["em_normalisation"]
        plain = em.CapsNet(**entry["em_config"]).set_fast(False)
        fast = em.CapsNet(**entry["em_config"]).set_fast(True)
        nets = {"yl-1993 module": plain, "fast routing": fast}
        score = {name: (lambda net: lambda x: net((x - mean) / std))(net) for name, net in nets.items()}
    else:
        a = cm.Arch(ARCHS[arch])
        nets = {"XifengGuo module": cm.CapsuleNet(a), "FastCapsuleNet": FastCapsuleNet(a)}
        score = {name: (lambda net: lambda x: net.capsules(x).norm(dim=-1))(net) for name, net in nets.items()}
    for net in nets.values():
        net.load_state_dict(state)
        net.eval()
    return score


def read_idx_images(path):
    with open(path, "rb") as f:
        data = f.read()
    n, rows, cols = (int.from_bytes(data[o:o + 4], "big") for o in (4, 8, 12))
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)


class CapsTimer:
    def __init__(self, exe, model, images):
        env = dict(os.environ)  # capsrt as users run it: the malloc settings were PyTorch's
        if "CAPSRT_GLIBC_TUNABLES_BEFORE" in env:
            env["GLIBC_TUNABLES"] = env.pop("CAPSRT_GLIBC_TUNABLES_BEFORE")
            if not env["GLIBC_TUNABLES"]:
                del env["GLIBC_TUNABLES"]
        self.p = subprocess.Popen([exe, model, images], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, env=env)
        self.kernels = self.p.stdout.readline().split()[-1]

    def block(self, n):
        self.p.stdin.write(f"{n}\n")
        self.p.stdin.flush()
        fields = self.p.stdout.readline().split()
        return [float(x) / 1e3 for x in fields[:-1]]  # ms

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def torch_block(score, images, start, n):
    times = []
    with torch.no_grad():
        for k in range(n):
            x = torch.from_numpy(images[(start + k) % len(images)].astype(np.float32) / 255.0)[None]
            t0 = time.perf_counter()
            score(x).argmax(dim=1)
            times.append((time.perf_counter() - t0) * 1e3)
    return times


# PyTorch's best malloc settings. Its EM routing at batch 1 allocates temporaries of hundreds of
# KB each step, which glibc serves with mmap and returns with munmap until its dynamic threshold
# happens to rise: each step then faults its pages in again, slow on our virtual machines. That
# made PyTorch's time on em_mnist 4 or 30-40 ms from one process to the next (the cause of the
# spread in docs/performance.md's earlier runs). A fixed high mmap threshold, no trimming and
# transparent huge pages give it 4.1 ms every time, and it is credited with that.
PYTORCH_TUNABLES = ("glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1073741824:"
                    "glibc.malloc.trim_threshold=4294967296")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"), help="capsrt build folder")
    ap.add_argument("--images", default=os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte"))
    ap.add_argument("--reps", type=int, default=15, help="blocks per side")
    ap.add_argument("--block", type=int, default=20, help="images per block")
    ap.add_argument("--warmup", type=int, default=20, help="images each side runs before timing")
    ap.add_argument("--only", action="append", choices=[arch for arch, _ in MODELS],
                    help="measure this network only (repeatable; default: all)")
    args = ap.parse_args()
    reexec_with_tunables(PYTORCH_TUNABLES)
    torch.set_num_threads(1)
    images = read_idx_images(args.images)
    capsconv = os.path.join(args.build, "tools", "capsconv")
    timer = os.path.join(args.build, "bench", "caps_timer")
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} thread, GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}")
    print(f"capsrt: 1 thread; batch 1; "
          f"{args.reps} interleaved blocks of {args.block} images per side; classifier only")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(ROOT, "models", "models.json")) as f:
            manifest = json.load(f)
        for arch, checkpoint in MODELS:
            if args.only and arch not in args.only:
                continue
            if not os.path.exists(os.path.join(ROOT, checkpoint)):
                print(f"  {arch}: {checkpoint} is not there: skipped")
                continue
            caps = os.path.join(tmp, arch + ".caps")
            subprocess.run([capsconv, os.path.join(ROOT, checkpoint), *([] if arch == "em" else ["--arch", arch]),
                            "-o", caps, "-q"], check=True)
            state = torch.load(os.path.join(ROOT, checkpoint), map_location="cpu")
            name = os.path.splitext(os.path.basename(checkpoint))[0]
            nets = networks(arch, state, manifest.get(name, {}))
            t = CapsTimer(timer, caps, args.images)
            t.block(args.warmup)
            for net in nets.values():
                torch_block(net, images, 0, args.warmup)
            ours, theirs = [], {name: [] for name in nets}
            for rep in range(args.reps):
                start = rep * args.block
                for name, net in nets.items():
                    theirs[name] += torch_block(net, images, start, args.block)
                ours += t.block(args.block)
            t.close()
            medians = {name: statistics.median(v) for name, v in theirs.items()}
            best = min(medians, key=medians.get)
            ours_median = statistics.median(ours)
            for name, m in medians.items():
                print(f"  {arch:9s} PyTorch {name:17s} median {m:8.3f} ms")
            print(f"  {arch:9s} capsrt {t.kernels:18s} median {ours_median:8.3f} ms")
            ratio = medians[best] / ours_median
            print(f"  {arch:9s} capsrt is {ratio:.2f}x faster than PyTorch's faster version ({best})")
            results.append((arch, t.kernels, medians[best], ours_median, ratio))
    print("\nsummary (median ms per image, batch 1, one thread):")
    print(f"  {'network':10s} {'kernels':10s} {'PyTorch':>9s} {'capsrt':>9s} {'ratio':>7s}")
    for arch, kernels, theirs_ms, ours_ms, ratio in results:
        print(f"  {arch:10s} {kernels:10s} {theirs_ms:9.3f} {ours_ms:9.3f} {ratio:6.2f}x")


if __name__ == "__main__":
    main()
