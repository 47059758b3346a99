"""The EM capsule layers' votes and routing for training as native code: em_routing_op.cpp's
forward and backward (the formulas of em_modules' votes and em_routing, with the gradients written
out), compiled with the machine's g++ into a shared library on first use, loaded with ctypes and
wrapped in a torch.autograd.Function.

em_caps(pose, w, add, a_in, beta_u, beta_a, iters) takes and returns what em_modules.em_caps_fast
does; train_em.py's check_fast compares the network's outputs and gradients with autograd on the
plain routing (float64) before each run. It uses torch.get_num_threads() threads (OpenMP, over the
output positions).

The library is cached in $XDG_CACHE_HOME/capsrt (default ~/.cache/capsrt), under a name that holds
the hash of the source and the compile command, so an edited source is compiled again.
"""
import ctypes
import hashlib
import os
import subprocess
import tempfile

import torch

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "em_routing_op.cpp")
# -march=native: the library runs on the machine that compiles it
COMPILE = ["g++", "-std=c++17", "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC"]
_lib = None


def library():
    """The compiled library, built if missing. Raises RuntimeError with g++'s output if it fails."""
    global _lib
    if _lib is not None:
        return _lib
    with open(SOURCE, "rb") as f:
        key = hashlib.sha256(f.read() + " ".join(COMPILE).encode()).hexdigest()[:16]
    cache = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "capsrt")
    path = os.path.join(cache, f"em_routing_op-{key}.so")
    if not os.path.exists(path):
        os.makedirs(cache, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        try:
            r = subprocess.run(COMPILE + [SOURCE, "-o", tmp], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"compiling {SOURCE} failed:\n{r.stderr}")
            os.replace(tmp, path)  # atomic: two runs compiling at once both end with a whole file
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    lib = ctypes.CDLL(path)
    p, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    lib.em_caps_state_size.argtypes = [i32, i32, i32]
    lib.em_caps_state_size.restype = i64
    for suffix in ("f32", "f64"):
        fwd = getattr(lib, f"em_caps_forward_{suffix}")
        fwd.argtypes = [i64, i32, i32, i32, i32] + [p] * 9 + [i32]
        fwd.restype = None
        bwd = getattr(lib, f"em_caps_backward_{suffix}")
        bwd.argtypes = [i64, i32, i32, i32, i32] + [p] * 13 + [i32]
        bwd.restype = None
    _lib = lib
    return lib


def _suffix(t):
    if t.dtype == torch.float32:
        return "f32"
    if t.dtype == torch.float64:
        return "f64"
    raise TypeError(f"EM capsules: float32 or float64 poses, not {t.dtype}")


def _ptr(t):
    return None if t is None else t.data_ptr()


class _EMCaps(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pose, w, add, a_in, beta_u, beta_a, iters):
        p, i_count = pose.shape[:2]
        wn, c_count = w.shape[:2]
        if (pose.shape[2:] != (4, 4) or w.shape[2:] != (4, 4) or i_count % wn or a_in.shape != (p, i_count)
                or beta_u.shape != (c_count,) or beta_a.shape != (c_count,)
                or (add is not None and add.shape != (i_count, 16))):
            raise ValueError(f"EM capsules: poses {tuple(pose.shape)}, transforms {tuple(w.shape)}, activations "
                             f"{tuple(a_in.shape)} and betas {tuple(beta_u.shape)}, {tuple(beta_a.shape)} do not agree")
        dtype = pose.dtype
        pose, w, a_in, beta_u, beta_a = (t.detach().to(dtype).contiguous() for t in (pose, w, a_in, beta_u, beta_a))
        add = None if add is None else add.detach().to(dtype).contiguous()
        mu = pose.new_empty(p, c_count, 16)
        a_out = pose.new_empty(p, c_count)
        lib = library()
        # what the backward would compute again (the couplings, means and variances of each
        # iteration): kept when a gradient will be asked for, about C x I values a position
        state = (pose.new_empty(p, lib.em_caps_state_size(c_count, i_count, iters))
                 if any(ctx.needs_input_grad) else None)
        getattr(lib, f"em_caps_forward_{_suffix(pose)}")(
            p, c_count, i_count, wn, iters, _ptr(pose), _ptr(w), _ptr(add), _ptr(a_in), _ptr(beta_u), _ptr(beta_a),
            _ptr(mu), _ptr(a_out), _ptr(state), torch.get_num_threads())
        ctx.save_for_backward(pose, w, add, a_in, beta_u, beta_a, state)
        ctx.iters = iters
        return mu, a_out

    @staticmethod
    def backward(ctx, gmu, ga_out):
        pose, w, add, a_in, beta_u, beta_a, state = ctx.saved_tensors
        p, i_count = pose.shape[:2]
        c_count = w.shape[1]
        gmu = pose.new_zeros(p, c_count, 16) if gmu is None else gmu.to(pose.dtype).contiguous()
        ga_out = pose.new_zeros(p, c_count) if ga_out is None else ga_out.to(pose.dtype).contiguous()
        gpose, gw, ga, gbu, gba = (torch.empty_like(t) for t in (pose, w, a_in, beta_u, beta_a))
        getattr(library(), f"em_caps_backward_{_suffix(pose)}")(
            p, c_count, i_count, w.shape[0], ctx.iters, _ptr(pose), _ptr(w), _ptr(add), _ptr(a_in), _ptr(beta_u),
            _ptr(state), _ptr(gmu), _ptr(ga_out), _ptr(gpose), _ptr(gw), _ptr(ga), _ptr(gbu), _ptr(gba),
            torch.get_num_threads())
        return gpose, gw, None, ga, gbu, gba, None


def em_caps(pose, w, add, a_in, beta_u, beta_a, iters):
    """em_modules.em_caps_fast's contract: pose [P, I, 4, 4], w [Wn, C, 4, 4], add [I, 16] or None,
    a_in [P, I] -> (mu [P, C, 16], a_out [P, C]). The coordinates `add` get no gradient."""
    return _EMCaps.apply(pose, w, add, a_in, beta_u, beta_a, iters)
