#!/usr/bin/python3
"""capsrt's CapsNet training recipe (Debian's /usr/bin/python3 with python3-torch, CPU).

The paper's recipe as XifengGuo/CapsNet-Pytorch runs it: margin loss (m+ 0.9, m- 0.1, lambda 0.5)
plus 0.392 x MSE reconstruction (decoder fed the capsules masked by the true label), Adam 1e-3
decayed x0.9 per epoch, random shifts of up to 2 px, batch 100. Two architectures: the canonical
CapsNet and a small one of the Q7-CapsNets MNIST size (conv1 16 x 7x7; 16 primary types x 4D,
7x7 stride 2 = 1024 capsules; 10 x 6D class capsules; 3 routings; decoder 60-128-256-784).

Resumable: after every epoch, and every --save-every steps within one, the full state (model,
optimizer, scheduler, random generator, history, and within an epoch its shuffle order and running
loss) goes to STATE_DIR/state.pt (written atomically); a rerun with the same STATE_DIR continues
from there and takes the same steps an uninterrupted run would have taken.
When the last epoch is done the plain state_dict, in XifengGuo's key layout, is saved to --final.

    train.py --arch canonical --dataset mnist --epochs 15 --state /work/capsrt-train/canonical-mnist \
             --final models/canonical_mnist.pt
"""
import argparse
import copy
import gzip
import json
import os
import sys
import time


def reexec_with_tunables(tunables):
    """Restarts this script with `tunables` added to glibc's GLIBC_TUNABLES, unless it already runs
    so. The value GLIBC_TUNABLES had before is kept in CAPSRT_GLIBC_TUNABLES_BEFORE, for child
    processes that should run as they would have."""
    if "CAPSRT_GLIBC_TUNABLES_BEFORE" in os.environ:
        return
    before = os.environ.get("GLIBC_TUNABLES", "")
    env = dict(os.environ, CAPSRT_GLIBC_TUNABLES_BEFORE=before,
               GLIBC_TUNABLES=":".join(filter(None, [before, tunables])))
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def reexec_with_huge_pages():
    """Restarts this script with glibc's malloc asking for transparent huge pages. Page faults are
    slow on our virtual machines and each step faults in tens of megabytes of freed temporaries
    again. Huge pages make a step several times faster without changing a bit of the weights
    (docs/design.md has the measurements). Harmless where THP is off or glibc is older."""
    reexec_with_tunables("glibc.malloc.hugetlb=1")


if __name__ == "__main__":
    reexec_with_huge_pages()

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet_modules as cm  # noqa: E402

ARCHS = {
    "canonical": {"name": "canonical", "input": [1, 28, 28], "conv1": {"channels": 256, "kernel": 9, "stride": 1},
                  "primary": {"channels": 256, "dim": 8, "kernel": 9, "stride": 2},
                  "classes": 10, "class_dim": 16, "routings": 3, "decoder": [512, 1024]},
    "small": {"name": "small", "input": [1, 28, 28], "conv1": {"channels": 16, "kernel": 7, "stride": 1},
              "primary": {"channels": 64, "dim": 4, "kernel": 7, "stride": 2},
              "classes": 10, "class_dim": 6, "routings": 3, "decoder": [128, 256]},
}
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DATASETS = {
    "mnist": (os.path.join(ROOT, "data", "mnist"), ""),
    "fashion": ("/usr/share/datasets/fashion-mnist", ".gz"),
}


class FastCapsuleNet(cm.CapsuleNet):
    """XifengGuo's CapsuleNet (same parameters, same math) with the capsule layer computed in a
    memory layout that suits CPU training: u_hat as [B*J, I, DO], so that each routing step's
    weighted sum and agreement are batched matrix products (bmm) rather than element-wise products
    of u_hat-sized temporaries (the canonical u_hat is 18M floats a batch; this layout made a
    canonical training step about 1.3x faster). main() checks it against cm.CapsuleNet before
    training."""

    def capsules(self, x):
        x = self.relu(self.conv1(x))
        u = self.primarycaps(x)                                     # [B, I, DI]
        w = self.digitcaps.weight                                   # [J, I, DO, DI]
        J, I, DO, DI = w.shape
        B = u.size(0)
        u_hat = torch.bmm(u.transpose(0, 1), w.permute(1, 3, 0, 2).reshape(I, DI, J * DO))  # [I, B, J*DO]
        u_hat = u_hat.view(I, B * J, DO).transpose(0, 1).contiguous()                    # [B*J, I, DO]
        detached = u_hat.detach()
        b = u_hat.new_zeros(B, J, I)
        for i in range(self.digitcaps.routings):
            c = F.softmax(b, dim=1).view(B * J, 1, I)               # over the output capsules
            last = i == self.digitcaps.routings - 1
            s = torch.bmm(c, u_hat if last else detached).view(B * J, DO)
            v = cm.squash_xifengguo(s)
            if not last:
                b = b + torch.bmm(detached, v.view(B * J, DO, 1)).view(B, J, I)
        return v.view(B, J, DO)


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * k:8 + 4 * k], "big") for k in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(dataset, split):
    folder, ext = DATASETS[dataset]
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte{ext}"))
    y = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte{ext}"))
    return torch.from_numpy(x.copy()).float().div_(255.0).unsqueeze(1), torch.from_numpy(y.copy()).long()


def shift(batch, max_shift, gen):
    """Random translation of each image by up to max_shift pixels (zero fill)."""
    n, _, h, w = batch.shape
    padded = F.pad(batch, (max_shift,) * 4)
    offsets = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen)
    return torch.stack([padded[k, :, oy:oy + h, ox:ox + w] for k, (oy, ox) in enumerate(offsets.tolist())])


def margin_loss(lengths, target, m_pos=0.9, m_neg=0.1, lam=0.5):
    y = F.one_hot(target, lengths.size(1)).float()
    loss = y * torch.clamp(m_pos - lengths, min=0.0) ** 2 + lam * (1 - y) * torch.clamp(lengths - m_neg, min=0.0) ** 2
    return loss.sum(dim=1).mean()


def evaluate(model, x, y, batch=250):
    model.eval()
    correct = 0
    with torch.no_grad():
        for k in range(0, len(x), batch):
            lengths = model.capsules(x[k:k + batch]).norm(dim=-1)
            correct += (lengths.argmax(dim=1) == y[k:k + batch]).sum().item()
    return correct / len(x)


def check_fast_layout(model, reference, input_shape):
    """Exits unless FastCapsuleNet gives the reference module's capsules and gradients, compared
    in float64 on copies of the weights (so that rounding cannot hide a wrong gradient path: a
    routing step that wrongly passes gradients changes them by ~1e-6 relative at initialisation,
    float32 rounding alone by ~1e-7)."""
    fast = copy.deepcopy(model).double()
    reference = reference.double()
    reference.load_state_dict(fast.state_dict())
    probe = torch.rand(4, *input_shape, dtype=torch.float64)
    out_fast, out_ref = fast.capsules(probe), reference.capsules(probe)
    diff = (out_fast - out_ref).abs().max().item()
    if diff > 1e-12:
        sys.exit(f"FastCapsuleNet differs from CapsuleNet by {diff}")
    out_fast.norm(dim=-1).sum().backward()
    out_ref.norm(dim=-1).sum().backward()
    for (name, p), q in zip(fast.named_parameters(), reference.parameters()):
        if p.grad is None and q.grad is None:  # the decoder: not on the capsules' path
            continue
        if p.grad is None or q.grad is None:
            sys.exit(f"FastCapsuleNet's gradient of {name} is {'missing' if p.grad is None else 'extra'}")
        rel = ((p.grad - q.grad).abs().max() / q.grad.abs().max().clamp_min(1e-30)).item()
        if rel > 1e-9:
            sys.exit(f"FastCapsuleNet's gradient of {name} differs from CapsuleNet's by {rel:.2e} (relative)")


def resume(state_dir, model, opt, sched, gen):
    """Loads the saved state of the run kept in state_dir, if there is one, into these objects and
    says where it resumes. Returns (the state file, the history, the epochs done, and the partial
    epoch's position (set when the state was saved within epoch `done + 1`) or None)."""
    os.makedirs(state_dir, exist_ok=True)
    state_path = os.path.join(state_dir, "state.pt")
    if not os.path.exists(state_path):
        return state_path, [], 0, None
    st = torch.load(state_path)
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["optimizer"])
    sched.load_state_dict(st["scheduler"])
    gen.set_state(st["generator"])
    partial = st.get("partial")
    print(f"resuming epoch {st['epoch'] + 1} after step {partial['steps']}" if partial else
          f"resuming after epoch {st['epoch']}", flush=True)
    return state_path, st["history"], st["epoch"], partial


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=sorted(ARCHS), required=True)
    ap.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--state", required=True, help="folder for the per-epoch resumable state (outside the repo)")
    ap.add_argument("--final", required=True, help="where to save the final plain state_dict")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-decay", type=float, default=0.9)
    ap.add_argument("--lam-recon", type=float, default=0.392)
    ap.add_argument("--shift", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0,
                    help="use only the first N training and N test images (smoke tests)")
    ap.add_argument("--val", type=int, default=0,
                    help="hold out the last N training images and report accuracy on them each epoch "
                         "(for choosing a recipe without looking at the test set)")
    ap.add_argument("--save-every", type=int, default=100,
                    help="also save the resumable state every N steps within an epoch (0: only at epoch ends)")
    ap.add_argument("--stop-after", type=int, default=0, metavar="STEPS",
                    help="stop (exit status 3) right after the first save of the state at or after this many "
                         "steps in all, as a stopped session would (tests of resuming)")
    return ap


def command_line(args, parser=None, script="tools/train/train.py", first=("arch", "dataset", "epochs"), speed_only=()):
    """The command that reproduces a run of `script` (train.py, or train_em.py with its parser): the
    arguments in `first` and every recipe argument that differs from the default (the --threads
    count, the state and save points, and the script's `speed_only` options do not change the result's recipe)."""
    parts = [f"--{key} {args[key]}" for key in first]
    for action in (parser or build_parser())._actions:
        key = action.dest
        if key in ("help", "state", "final", "threads", "save_every", "stop_after", *speed_only, *first) or key not in args:
            continue
        if args[key] != action.default:
            parts.append(f"{action.option_strings[0]} {args[key]}")
    return script + " " + " ".join(parts)


def main():
    args = build_parser().parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    a = cm.Arch(ARCHS[args.arch])
    model = FastCapsuleNet(a)
    check_fast_layout(model, cm.CapsuleNet(a), ARCHS[args.arch]["input"])
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_decay)
    gen = torch.Generator().manual_seed(args.seed)
    state_path, history, start, partial = resume(args.state, model, opt, sched, gen)

    def save_state(epoch_done, steps_done, partial_epoch=None):
        """Saves the resumable state after steps_done steps in all; stops there if --stop-after
        says so (never after the last step: the final state_dict is still to be written)."""
        tmp = state_path + ".tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "history": history, "epoch": epoch_done,
                    "partial": partial_epoch}, tmp)
        os.replace(tmp, state_path)
        if args.stop_after and args.stop_after <= steps_done < args.epochs * steps_per_epoch:
            sys.exit(3)

    xtr, ytr = load(args.dataset, "train")
    xte, yte = load(args.dataset, "test")
    if args.limit:
        xtr, ytr, xte, yte = xtr[:args.limit], ytr[:args.limit], xte[:args.limit], yte[:args.limit]
    split = len(xtr) - args.val  # the last --val images are held out (none by default)
    xtr, xval, ytr, yval = xtr[:split], xtr[split:], ytr[:split], ytr[split:]
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{args.arch} CapsNet on {args.dataset}: {n_params} parameters, {len(xtr)} training images, "
          f"{args.threads} threads", flush=True)

    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.time()
        if partial:
            perm, total, steps, elapsed = partial["perm"], partial["total"], partial["steps"], partial["seconds"]
            t0 -= elapsed
            partial = None
        else:
            perm = torch.randperm(len(xtr), generator=gen)
            total, steps = 0.0, 0
        for k in range(steps * args.batch, len(xtr), args.batch):
            idx = perm[k:k + args.batch]
            x = shift(xtr[idx], args.shift, gen) if args.shift else xtr[idx]
            y = ytr[idx]
            lengths, _, recon = model(x, F.one_hot(y, a.classes).float())
            loss = margin_loss(lengths, y) + args.lam_recon * F.mse_loss(recon.view_as(x), x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            steps += 1
            if steps % 100 == 0 or steps == 5:
                print(f"  epoch {epoch + 1} step {steps}: loss {total / steps:.5f} ({time.time() - t0:.0f} s)", flush=True)
            if args.save_every and steps % args.save_every == 0 and k + args.batch < len(xtr):
                save_state(epoch, epoch * steps_per_epoch + steps,
                           {"perm": perm, "total": total, "steps": steps, "seconds": time.time() - t0})
        sched.step()
        train_time = time.time() - t0
        acc = evaluate(model, xte, yte)
        history.append({"epoch": epoch + 1, "loss": total / steps, "test_acc_pytorch": acc,
                        "train_seconds": round(train_time, 1), "lr": opt.param_groups[0]["lr"]})
        val = ""
        if args.val:
            history[-1]["val_acc_pytorch"] = evaluate(model, xval, yval)
            val = f", held-out accuracy {100 * history[-1]['val_acc_pytorch']:.2f}%"
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / steps:.5f}{val}, test accuracy (PyTorch) {100 * acc:.2f}%, "
              f"{train_time / 60:.1f} min", flush=True)
        save_state(epoch + 1, (epoch + 1) * steps_per_epoch)

    os.makedirs(os.path.dirname(os.path.abspath(args.final)), exist_ok=True)
    torch.save(model.state_dict(), args.final)
    with open(os.path.splitext(args.final)[0] + ".history.json", "w") as f:
        json.dump({"args": vars(args), "parameters": n_params, "history": history}, f, indent=1)
    print(f"saved {args.final}", flush=True)


if __name__ == "__main__":
    main()
