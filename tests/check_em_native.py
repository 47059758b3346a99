#!/usr/bin/python3
"""The native EM capsule op that trains the EM networks (tools/train/em_routing_op.cpp through
em_native.em_caps) against its specification, em_modules' plain votes and em_routing differentiated
by PyTorch's autograd, in float64:

- on shapes the networks do not have: one output capsule, odd input counts, 1 to 3 iterations,
  transforms shared across positions (Wn < I) with coordinates added, or one per input;
- outputs (mu and a_out) within 1e-12, and the gradients of a random projection of both with
  respect to the poses, transforms and betas within 1e-9 of the largest; the input activations'
  gradient, zero in exact arithmetic (they cancel in the M-step), within 1e-9 absolute;
- float32 within 1e-4 of float64;
- two runs on 2 threads give the same gradients bit for bit (resumed training depends on it);
- shapes that do not agree raise ValueError, integer poses TypeError.

    check_em_native.py
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "train"))
import em_modules as em  # noqa: E402
import em_native  # noqa: E402

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def plain(pose, w, add, a_in, beta_u, beta_a, iters):
    """The specification: em_modules.votes and em_routing ([P, I, C, 16] votes)."""
    p, i_count = pose.shape[:2]
    wn, c_count = w.shape[:2]
    v = em.votes(pose.reshape(p * (i_count // wn), wn, 4, 4), w).view(p, i_count, c_count, 16)
    if add is not None:
        v = v + add.view(1, i_count, 1, 16)
    return em.em_routing(v, a_in, beta_u, beta_a, iters)


def inputs(p, c, i, wn, with_add, dtype, gen):
    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=gen, dtype=torch.float64) * scale).to(dtype).requires_grad_()
    pose = rnd(p, i, 4, 4)
    w = rnd(wn, c, 4, 4, scale=0.5)
    add = torch.rand(i, 16, generator=gen, dtype=torch.float64).to(dtype) if with_add else None
    a_in = torch.rand(p, i, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    return pose, w, add, a_in, rnd(c, scale=0.3), rnd(c, scale=0.3)


def run(fn, args, iters, proj):
    pose, w, add, a_in, bu, ba = args
    for t in (pose, w, a_in, bu, ba):
        t.grad = None
    mu, a_out = fn(pose, w, add, a_in, bu, ba, iters)
    ((mu * proj[0]).sum() + (a_out * proj[1]).sum() * 100).backward()
    return [mu.detach(), a_out.detach(), pose.grad, w.grad, bu.grad, ba.grad, a_in.grad]


def main():
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(3)
    # (positions, output capsules, inputs, transforms, coordinates added)
    shapes = [(3, 1, 5, 5, False), (2, 4, 7, 7, False), (5, 3, 12, 4, True), (1, 16, 72, 72, False),
              (4, 10, 48, 3, True), (7, 2, 9, 9, False)]
    names = ["mu", "a_out", "pose", "w", "beta_u", "beta_a"]
    for p, c, i, wn, with_add in shapes:
        for iters in (1, 2, 3):
            args = inputs(p, c, i, wn, with_add, torch.float64, gen)
            proj = (torch.randn(p, c, 16, generator=gen, dtype=torch.float64),
                    torch.randn(p, c, generator=gen, dtype=torch.float64))
            want = run(plain, args, iters, proj)
            got = run(em_native.em_caps, args, iters, proj)
            what = f"P={p} C={c} I={i} Wn={wn} add={with_add} iters={iters}"
            for name, x, y in zip(names, got, want):
                scale = 1.0 if name in ("mu", "a_out") else y.abs().max().item()
                tol = 1e-12 if name in ("mu", "a_out") else 1e-9
                err = (x - y).abs().max().item() / max(scale, 1e-300)
                check(err <= tol, f"{what}: {name} differs by {err:.2e} (allowed {tol:g})")
            err = (got[6] - want[6]).abs().max().item()
            check(err <= 1e-9, f"{what}: the input activations' gradient differs by {err:.2e}")
            # float32 against float64
            args32 = tuple(None if t is None else t.detach().float().requires_grad_(t.requires_grad) for t in args)
            got32 = run(em_native.em_caps, args32, iters, tuple(x.float() for x in proj))
            for name, x, y in zip(names[:2], got32, want):
                err = (x.double() - y).abs().max().item()
                check(err <= 1e-4, f"{what}: float32 {name} differs from float64 by {err:.2e}")
    # the same gradients bit for bit, run after run, on 2 threads
    args = inputs(64, 16, 72, 72, False, torch.float32, gen)
    proj = (torch.randn(64, 16, 16, generator=gen), torch.randn(64, 16, generator=gen))
    first = run(em_native.em_caps, args, 2, proj)
    second = run(em_native.em_caps, args, 2, proj)
    check(all(torch.equal(x, y) for x, y in zip(first, second)), "two runs on 2 threads differ")
    # shapes that do not agree, and integer poses
    pose, w, add, a_in, bu, ba = inputs(2, 3, 6, 6, False, torch.float64, gen)
    bad = {"activations": (pose, w, None, a_in[:, :5], bu, ba), "transforms": (pose, w[:4], None, a_in, bu, ba),
           "betas": (pose, w, None, a_in, bu[:2], ba), "coordinates": (pose, w, torch.zeros(5, 16), a_in, bu, ba)}
    for what, case in bad.items():
        try:
            em_native.em_caps(*case, 2)
            check(False, f"mismatched {what}: no error")
        except ValueError:
            pass
    try:
        em_native.em_caps(pose.detach().long(), w.detach().long(), None, a_in.detach().long(), bu.detach().long(),
                          ba.detach().long(), 2)
        check(False, "integer poses: no error")
    except TypeError:
        pass
    if failures:
        sys.exit(f"{len(failures)} failures")
    print(f"native EM capsules agree with autograd on the plain routing: {len(shapes) * 3} cases")


if __name__ == "__main__":
    main()
