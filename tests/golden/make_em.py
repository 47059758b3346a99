#!/usr/bin/python3
"""Golden data for matrix capsules with EM routing (issue 25), from the PyTorch module in
yl-1993/Matrix-Capsules-EM-PyTorch's layout (tools/train/em_modules.py, its plain routing, float64),
independent of capsrt. Seeded: the same command writes the same tensors and outputs.

    make_em.py OUT_DIR      # tests/data/em:
      routing.golden.json   EM routing alone on random votes (I inputs, C outputs, 16 pose values):
                            mu, a_out and the couplings r of each iteration, for the kernels' tests
      tiny_em.pt            a state_dict of a small network (A 8, B 4, C 4, D 4, E 5, 3 iterations,
                            input 1x20x20), trained-looking BatchNorm statistics included
      tiny_em.golden.json   for two inputs: the pixels, every layer's output (NHWC, as the module
                            gives them) and the class activations
      tiny_em_wrapped.pt    the same weights as a training checkpoint {"epoch", "state_dict", ...}
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train"))
import em_modules as em  # noqa: E402

TINY = dict(A=8, B=4, C=4, D=4, E=5, K=3, iters=3)
INPUT = [1, 20, 20]
MEAN, STD = 0.1307, 0.3081  # yl-1993's train.py normalisation of MNIST


def routing_golden(seed):
    """One position's EM routing, with the couplings after each E-step."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for i_count, c_count, iters in [(36, 4, 3), (9, 3, 2), (72, 16, 1)]:
        v = torch.randn(1, i_count, c_count, 16, generator=g, dtype=torch.float64)
        a_in = torch.rand(1, i_count, generator=g, dtype=torch.float64)
        beta_u = torch.randn(c_count, generator=g, dtype=torch.float64)
        beta_a = torch.randn(c_count, generator=g, dtype=torch.float64)
        mu, a_out = em.em_routing(v, a_in, beta_u, beta_a, iters)
        rs = [em.em_routing(v, a_in, beta_u, beta_a, k + 1, return_r=True)[2][0].flatten().tolist()
              for k in range(iters - 1)]
        cases.append({"inputs": i_count, "outputs": c_count, "iterations": iters,
                      "votes": v.flatten().tolist(), "a_in": a_in.flatten().tolist(),
                      "beta_u": beta_u.tolist(), "beta_a": beta_a.tolist(),
                      "mu": mu.flatten().tolist(), "a_out": a_out.flatten().tolist(), "r_after_e_step": rs})
    return {"note": "tools/train/em_modules.py em_routing in float64 (eps 1e-8, lambda 1e-3): votes [I, C, 16], "
                    "r [I, C] after each E-step", "cases": cases}


def tiny_model(seed):
    torch.manual_seed(seed)
    model = em.CapsNet(**TINY).double()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 2.0)
        model.bn1.weight.uniform_(0.5, 1.5)
        model.bn1.bias.uniform_(-0.2, 0.2)
        model.bn1.num_batches_tracked.fill_(1000)
        for caps in (model.conv_caps1, model.conv_caps2, model.class_caps):
            caps.weights.mul_(0.5)
            caps.beta_u.uniform_(-1, 1)
            caps.beta_a.uniform_(-1, 1)
    return model.eval()


def layer_outputs(model, x):
    out = {}
    h = torch.relu(model.bn1(model.conv1(x)))
    out["conv1"] = h.permute(0, 2, 3, 1)        # [b, H, W, A] (NHWC here, for comparison)
    h = model.primary_caps(h)
    out["primary_caps"] = h
    h = model.conv_caps1(h)
    out["conv_caps1"] = h
    h = model.conv_caps2(h)
    out["conv_caps2"] = h
    out["class_caps"] = model.class_caps(h)
    return out


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "routing.golden.json"), "w") as f:
        json.dump(routing_golden(5), f)
    model = tiny_model(25)
    sd = {k: v.float() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(out, "tiny_em.pt"))
    torch.save({"epoch": 3, "state_dict": sd, "optimizer": {"lr": 0.01}}, os.path.join(out, "tiny_em_wrapped.pt"))
    # The golden outputs from the float32 weights, computed in float64.
    model.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in sd.items()})
    g = torch.Generator().manual_seed(26)
    cases = []
    for _ in range(2):
        pixels = torch.randint(0, 256, [1] + INPUT, generator=g)
        x = (pixels.double() / 255 - MEAN) / STD
        with torch.no_grad():
            layers = layer_outputs(model, x)
        cases.append({"pixels": pixels.flatten().tolist(),
                      "layers": {k: v.flatten().tolist() for k, v in layers.items()},
                      "shapes": {k: list(v.shape[1:]) for k, v in layers.items()},
                      "scores": layers["class_caps"].flatten().tolist()})
    golden = {"file": "tiny_em.pt", "config": TINY, "input": INPUT, "normalisation": [MEAN, STD],
              "note": "tools/train/em_modules.py (plain routing) in float64 on the float32 weights; inputs "
                      "(pixels/255 - mean)/std; layer outputs NHWC", "cases": cases}
    with open(os.path.join(out, "tiny_em.golden.json"), "w") as f:
        json.dump(golden, f)
    print("scores", [[round(s, 6) for s in c["scores"]] for c in cases])


if __name__ == "__main__":
    main()
