#!/usr/bin/python3
"""capsrt's training recipe for matrix capsules with EM routing (Debian's /usr/bin/python3 with
python3-torch, CPU), in yl-1993/Matrix-Capsules-EM-PyTorch's state_dict layout (em_modules.py).

That code's train.py recipe: spread loss with its margin going from 0.2 to 0.9 over the whole run,
Adam (lr 0.01), learning rate cut by 10 when the training accuracy has not improved for two epochs
(ReduceLROnPlateau, patience 1), batch 128, 2 EM iterations, MNIST pixels normalised as
(x/255 - 0.1307)/0.3081 (the same for Fashion-MNIST: capsconv records the scaling in the model).
--anneal-after E adds capsrt's ending: the margin reaches 0.9 at the end of epoch E, and after E the
learning rate is cut by 10 every --anneal-every K epochs (K=1: each epoch after E runs at a tenth of
the one before it).
Its train.py's network: A=64, B=8, C=D=16 (the paper's smallNORB sizes, config yl1993); A=B=C=D=32
is its comment's alternative (config c32, em_mnist's), about 5.5 times as long a step on our CPUs.

Training runs the capsule layers' votes and EM routing as native code (em_routing_op.cpp through
em_native.py, compiled with g++ on first use; --routing torch: em_modules' fast PyTorch layout), the
same formulas, checked against the plain PyTorch routing before training (outputs and gradients, in
float64). The test accuracy after each epoch comes from that routing, after the last from the plain
PyTorch one too (the figure a model ships with).

Resumable as train.py: after every epoch, and every --save-every steps within one, the full state
goes to STATE_DIR/state.pt (written atomically); a rerun with the same STATE_DIR continues there.
When the last epoch is done the plain state_dict is saved to --final, with the history beside it.

--init PT runs a second stage on a finished run's weights (its --final): a fresh Adam at --lr, the
margin at 0.9 from the first step, the learning-rate cuts as above: a longer schedule made of a
finished run and a continuation. The first stage's history, found beside PT, goes into the
second's as "first_stage".

em_mnist's recipe, in two stages (tools/train/train_all.sh):

    train_em.py --dataset mnist --epochs 16 --config c32 --batch 32 --anneal-after 10 --anneal-every 3 \
        --shift 2 --state /work/capsrt-train/em_mnist_stage1 --final /work/capsrt-train/em_mnist_stage1.pt
    train_em.py --dataset mnist --epochs 8 --config c32 --batch 32 --lr 0.001 --anneal-after 6 --anneal-every 2 \
        --shift 2 --init /work/capsrt-train/em_mnist_stage1.pt --state /work/capsrt-train/em_mnist \
        --final models/em_mnist.pt
"""
import argparse
import copy
import json
import os
import sys
import time

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train import reexec_with_huge_pages
    reexec_with_huge_pages()

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import em_modules as em  # noqa: E402
import em_native  # noqa: E402
from train import command_line as train_command_line, load, resume, shift  # noqa: E402

MEAN, STD = 0.1307, 0.3081
# yl1993: that code's train.py network. c8: the same with C=D=8, the first shipped models. On our
# 2-core machines an epoch of yl1993 takes about 2.5 minutes with the native op, c32 about 12
# (docs/em-routing.md, "Training"; in PyTorch, 25 and 113).
CONFIGS = {"yl1993": dict(A=64, B=8, C=16, D=16, E=10, K=3, iters=2),
           "c8": dict(A=64, B=8, C=8, D=8, E=10, K=3, iters=2),
           # its train.py's commented alternative; its README: 99.3% on MNIST after 30 epochs at batch
           # 32, against 99.1% for yl1993 at 128 (the best test accuracy over the epochs, 2 iterations
           # each). At batch 128 and our 16-epoch recipe it trailed yl1993; at batch 32 it is em_mnist
           # (docs/em-routing.md). With --routing torch, train it with --chunk 1: an image's votes are
           # 2.6 MB in ConvCaps1 alone, and larger chunks no longer stay in cache (14.4 s a step
           # against 24 s with 2 images)
           "c32": dict(A=32, B=32, C=32, D=32, E=10, K=3, iters=2)}


def train_step(model, x, y, margin, chunk):
    """The gradients of the batch's spread loss, accumulated: the stem runs on the whole batch (bn1
    normalises over it, as in one pass), the capsule layers on `chunk` images at a time, and the
    stem's gradient goes back once. The same sums as one pass over the batch; with --routing torch a
    chunk's votes stay in cache, which made a c8 step 2.2 times faster (8 images against 128). The
    native op keeps one position's votes at a time: 16 images a chunk were a little faster than 4.
    Returns (the batch's loss, its class activations)."""
    h = model.stem(x)
    h_in = h.detach().requires_grad_()
    outs, total = [], 0.0
    for k in range(0, len(x), chunk):
        out = model.capsules(h_in[k:k + chunk])
        # spread_loss averages over its images and subtracts m^2 once: weighting each chunk by its
        # share of the batch gives the batch's loss
        loss = em.spread_loss(out, y[k:k + chunk], margin) * (len(out) / len(x))
        loss.backward()
        total += loss.item()
        outs.append(out.detach())
    h.backward(h_in.grad)
    return total, torch.cat(outs)


def normalise(x):
    return (x - MEAN) / STD


def evaluate(model, x, y, routing):
    """The test accuracy with `routing` (False: the plain PyTorch one; the training routing is put
    back after). The plain routing takes em.PLAIN_BATCH images at a time, as
    tools/train/pytorch_predictions.py."""
    batch = 500 if routing else em.PLAIN_BATCH
    training_routing = model.conv_caps1.fast
    model.eval().set_fast(routing)
    correct = 0
    with torch.no_grad():
        for k in range(0, len(x), batch):
            correct += (model(normalise(x[k:k + batch])).argmax(dim=1) == y[k:k + batch]).sum().item()
    model.set_fast(training_routing)
    return correct / len(x)


def same_gradients(model, oracle, tol, what):
    """Exits unless every parameter's gradient in `model` is `oracle`'s within `tol` (relative)."""
    for (name, p), q in zip(model.named_parameters(), oracle.parameters()):
        rel = ((p.grad - q.grad).abs().max() / q.grad.abs().max().clamp_min(1e-30)).item()
        if rel > tol:
            sys.exit(f"{what} gradient of {name} differs by {rel:.2e} (relative)")


def check_fast(model, routing):
    """Exits unless the training routing (em_caps_fast's contract) gives the plain one's outputs and
    gradients, and train_step's chunks one pass's loss and gradients (float64)."""
    fast = copy.deepcopy(model).double().eval().set_fast(routing)
    plain = copy.deepcopy(model).double().eval().set_fast(False)
    probe = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    a, b = fast(probe), plain(probe)
    diff = (a - b).abs().max().item()
    if diff > 1e-12:
        sys.exit(f"the fast EM routing differs from the plain one by {diff}")
    a.sum().backward()
    b.sum().backward()
    # (primary_caps.a's gradient is ~0: the activations cancel in the M-step)
    same_gradients(fast, plain, 1e-6, "the fast EM routing's")
    # train_step's chunks against one pass over the batch, in training mode (bn1's batch statistics)
    whole = copy.deepcopy(model).double().train().set_fast(routing)
    chunked = copy.deepcopy(model).double().train().set_fast(routing)
    probe = torch.randn(5, 1, 28, 28, dtype=torch.float64)
    target = torch.tensor([0, 3, 9, 3, 7])
    loss = em.spread_loss(whole(probe), target, 0.5)
    loss.backward()
    loss_chunked, _ = train_step(chunked, probe, target, 0.5, 2)
    if abs(loss.item() - loss_chunked) > 1e-12:
        sys.exit(f"train_step's loss {loss_chunked} differs from one pass's {loss.item()}")
    same_gradients(chunked, whole, 1e-9, "train_step's")


def build_parser():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=["mnist", "fashion"], required=True)
    ap.add_argument("--epochs", type=int, required=True)
    ap.add_argument("--state", required=True, help="folder for the resumable state (outside the repo)")
    ap.add_argument("--final", required=True, help="where to save the final plain state_dict")
    ap.add_argument("--config", choices=sorted(CONFIGS), default="yl1993")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--chunk", type=int, default=16,
                    help="images the capsule layers take at a time within a batch (speed only: the sums are the batch's)")
    ap.add_argument("--routing", choices=["native", "torch"], default="native",
                    help="the capsule layers' votes and routing in training: em_routing_op.cpp, compiled with g++ on "
                         "first use (about 10 times as fast), or em_modules' PyTorch code (speed only: the same formulas)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training and test images (smoke tests)")
    ap.add_argument("--save-every", type=int, default=50, help="steps between saves within an epoch")
    ap.add_argument("--anneal-after", type=int, default=0, metavar="E",
                    help="the margin reaches 0.9 at the end of epoch E and stays there; each later epoch runs at a "
                         "tenth of the previous one's learning rate (0: the margin grows over all the epochs)")
    ap.add_argument("--anneal-every", type=int, default=1, metavar="K",
                    help="after --anneal-after, cut the learning rate by 10 at the start of every K-th epoch "
                         "(1: every epoch)")
    ap.add_argument("--shift", type=int, default=0, metavar="PX",
                    help="translate each training image by up to PX pixels at random (zero fill), as train.py "
                         "does for the dynamic-routing networks (0: none, as yl-1993's train.py)")
    ap.add_argument("--init", metavar="PT",
                    help="a second stage: start from this plain state_dict (a finished run's --final, same --config) "
                         "with a fresh optimizer, the margin at its end value 0.9 throughout")
    ap.add_argument("--stop-after", type=int, default=0, metavar="STEPS", help="exit (status 3) after this many steps in all")
    return ap


def command_line(args):
    """The train_em.py command that reproduces a run (its history's "args"): its required arguments
    and every recipe argument that differs from the default."""
    return train_command_line(args, build_parser(), "tools/train/train_em.py", ("dataset", "epochs", "config"),
                              speed_only=("chunk", "routing"))


def main():
    args = build_parser().parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = em.CapsNet(**CONFIGS[args.config])
    if args.init:  # a saved state (below) takes its place when the run resumes
        try:
            model.load_state_dict(torch.load(args.init))
        except Exception as e:  # a missing file, not a torch file, another config's tensors
            sys.exit(f"--init {args.init}: cannot be loaded as a config {args.config} state_dict: {e}")
    if args.routing == "native":
        try:
            routing = em_native.em_caps
            em_native.library()
        except (OSError, RuntimeError) as e:
            sys.exit(f"{e}\n(--routing torch trains without the native code)")
    else:
        routing = True  # em_modules.em_caps_fast
    check_fast(model, routing)
    model.set_fast(routing)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, "max", patience=1)
    gen = torch.Generator().manual_seed(args.seed)
    state_path, history, start, partial = resume(args.state, model, opt, sched, gen)

    xtr, ytr = load(args.dataset, "train")
    xte, yte = load(args.dataset, "test")
    if args.limit:
        xtr, ytr, xte, yte = xtr[:args.limit], ytr[:args.limit], xte[:args.limit], yte[:args.limit]
    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    total_steps = args.epochs * steps_per_epoch
    if not 0 <= args.anneal_after <= args.epochs:
        sys.exit("--anneal-after must lie between 0 and --epochs")
    if args.anneal_every < 1:
        sys.exit("--anneal-every must be at least 1")
    margin_steps = (args.anneal_after or args.epochs) * steps_per_epoch

    def save_state(epoch_done, steps_done, partial_epoch=None):
        tmp = state_path + ".tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                    "generator": gen.get_state(), "history": history, "epoch": epoch_done, "partial": partial_epoch}, tmp)
        os.replace(tmp, state_path)
        if args.stop_after and args.stop_after <= steps_done < total_steps:
            sys.exit(3)

    n_params = sum(p.numel() for p in model.parameters())
    print(f"EM CapsNet {CONFIGS[args.config]} on {args.dataset}: {n_params} parameters, {len(xtr)} training images, "
          f"{args.threads} threads", flush=True)
    for epoch in range(start, args.epochs):
        model.train()
        t0 = time.time()
        if partial:
            perm, total, correct, steps = partial["perm"], partial["total"], partial["correct"], partial["steps"]
            t0 -= partial["seconds"]
            partial = None
        else:
            perm = torch.randperm(len(xtr), generator=gen)
            total, correct, steps = 0.0, 0, 0
            if args.anneal_after and epoch >= args.anneal_after and (epoch - args.anneal_after) % args.anneal_every == 0:
                for group in opt.param_groups:  # saved with the optimizer: a resumed partial epoch keeps it
                    group["lr"] *= 0.1
        for k in range(steps * args.batch, len(xtr), args.batch):
            idx = perm[k:k + args.batch]
            x, y = normalise(shift(xtr[idx], args.shift, gen) if args.shift else xtr[idx]), ytr[idx]
            # the margin grows from 0.2 to 0.9 over the run (or the epochs before --anneal-after),
            # step by step (that code's r); a second stage (--init) keeps it at 0.9
            r = 1.0 if args.init else min(1.0, (epoch * steps_per_epoch + steps) / margin_steps)
            opt.zero_grad()
            loss, out = train_step(model, x, y, 0.2 + 0.7 * r, args.chunk)
            opt.step()
            total += loss
            correct += (out.argmax(dim=1) == y).sum().item()
            steps += 1
            if steps % 50 == 0 or steps == 5:
                print(f"  epoch {epoch + 1} step {steps}/{steps_per_epoch}: loss {total / steps:.5f}, training accuracy "
                      f"{100 * correct / min(len(xtr), steps * args.batch):.2f}% ({time.time() - t0:.0f} s)", flush=True)
            if args.save_every and steps % args.save_every == 0 and k + args.batch < len(xtr):
                save_state(epoch, epoch * steps_per_epoch + steps, {"perm": perm, "total": total, "correct": correct,
                                                                    "steps": steps, "seconds": time.time() - t0})
        train_acc = correct / len(xtr)
        if not args.anneal_after or epoch + 1 < args.anneal_after:  # the plateau rule, before annealing
            sched.step(train_acc)
        train_time = time.time() - t0
        # after each epoch, the test accuracy with the training routing (the native op: a tenth of the
        # plain routing's time, which was 2 minutes of yl1993's 5-minute epochs); after the last, the
        # plain PyTorch routing's too, the figure the model is shipped with
        acc = evaluate(model, xte, yte, routing)
        entry = {"epoch": epoch + 1, "loss": total / steps, "train_acc": train_acc, "test_acc": acc,
                 "train_seconds": round(train_time, 1), "lr": opt.param_groups[0]["lr"]}
        tail = ""
        if epoch + 1 == args.epochs:
            entry["test_acc_pytorch"] = evaluate(model, xte, yte, False)
            tail = f", by PyTorch's plain routing {100 * entry['test_acc_pytorch']:.2f}%"
        history.append(entry)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / steps:.5f}, training accuracy {100 * train_acc:.2f}%, "
              f"test accuracy {100 * acc:.2f}%{tail}, {train_time / 60:.1f} min", flush=True)
        save_state(epoch + 1, (epoch + 1) * steps_per_epoch)

    os.makedirs(os.path.dirname(os.path.abspath(args.final)), exist_ok=True)
    torch.save(model.state_dict(), args.final)
    record = {"args": vars(args), "config": CONFIGS[args.config], "parameters": n_params,
              "normalisation": [MEAN, STD], "history": history}
    first = os.path.splitext(args.init or "")[0] + ".history.json"
    if args.init and os.path.exists(first):  # a second stage carries the first's record (docs/models.md)
        record["first_stage"] = json.load(open(first))
    with open(os.path.splitext(args.final)[0] + ".history.json", "w") as f:
        json.dump(record, f, indent=1)
    print(f"saved {args.final}", flush=True)


if __name__ == "__main__":
    main()
