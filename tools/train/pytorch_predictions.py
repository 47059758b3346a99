#!/usr/bin/python3
"""PyTorch's own answers on the official test set for every shipped model: the independent oracle
that capsrt's accuracy and agreement tests compare against (tests/check_accuracy.py).

For each entry of models/models.json this loads the checkpoint into the module the model was
trained as (XifengGuo's CapsuleNet, tools/train/capsnet_modules.py; for arch "em", yl-1993's EM
CapsNet, tools/train/em_modules.py, with the plain routing and its MNIST normalisation), runs the
classifier on the 10,000 test images in float32 on the CPU (batches of 250, 50 for EM; eval mode, no_grad)
and writes models/<name>.pytorch.json: the predicted class of every image (argmax of the capsule
lengths, or of the EM class activations; first index on ties, as capsrt), the number correct,
and how it was made.

    /usr/bin/python3 tools/train/pytorch_predictions.py [NAME ...]
"""
import hashlib
import io
import json
import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from train import reexec_with_huge_pages
    reexec_with_huge_pages()  # the EM routing's temporaries are hundreds of MB: page faults took most of its time

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import capsnet_modules as cm  # noqa: E402
import em_modules as em  # noqa: E402
from train import ARCHS, ROOT, load  # noqa: E402


def architecture(arch):
    if arch in ARCHS:
        return ARCHS[arch]
    with open(os.path.join(ROOT, arch)) as f:
        return json.load(f)


def main():
    with open(os.path.join(ROOT, "models", "models.json")) as f:
        manifest = json.load(f)
    names = sys.argv[1:] or list(manifest)
    torch.set_num_threads(os.cpu_count() or 1)
    for name in names:
        entry = manifest[name]
        x, y = load(entry["dataset"], "test")
        path = os.path.join(ROOT, "models", entry["checkpoint"])
        with open(path, "rb") as f:  # read once: the hash is of the bytes loaded, not models.json's
            data = f.read()          # record of the file, which can lag
        digest = hashlib.sha256(data).hexdigest()
        state = torch.load(io.BytesIO(data), map_location="cpu")
        if entry["arch"] == "em":
            net = em.CapsNet(**entry["em_config"]).set_fast(False)
            mean, std = entry["em_normalisation"]
            classify = lambda xb: net((xb - mean) / std)  # noqa: E731 (the activations)
            module = ("yl-1993's EM CapsNet (tools/train/em_modules.py, plain routing, input (x - %g) / %g)"
                      % (mean, std))
            rule = "argmax of the class activations"
        else:
            net = cm.CapsuleNet(cm.Arch(architecture(entry["arch"])))
            classify = lambda xb: net.capsules(xb).norm(dim=-1)  # noqa: E731
            module = "XifengGuo's CapsuleNet (tools/train/capsnet_modules.py)"
            rule = "argmax of the capsule lengths"
        net.load_state_dict(state)
        net.eval()
        batch = em.PLAIN_BATCH if entry["arch"] == "em" else 250  # (em_modules: the routing's temporaries)
        predicted = []
        with torch.no_grad():
            for k in range(0, len(x), batch):
                predicted += classify(x[k:k + batch]).argmax(dim=1).tolist()
        correct = sum(int(p == t) for p, t in zip(predicted, y.tolist()))
        out = {
            "made_by": "tools/train/pytorch_predictions.py: " + module + " in PyTorch " + torch.__version__ +
                       f", float32 CPU, eval mode, batches of {batch}; " + rule,
            "checkpoint": entry["checkpoint"],
            "sha256": digest,
            "dataset": entry["dataset"],
            "count": len(predicted),
            "correct": correct,
            "predicted": predicted,
        }
        # One field a line; the predictions on one line.
        with open(os.path.join(ROOT, "models", name + ".pytorch.json"), "w") as f:
            f.write("{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in out.items()) + "\n}\n")
        print(f"{name}: PyTorch gets {correct} of {len(predicted)} right")


if __name__ == "__main__":
    main()
