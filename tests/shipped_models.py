"""The shipped models (models/models.json) for the test scripts: one way to convert a model with
capsconv as its entry says (checkpoint and architecture), and PyTorch's answers for it
(models/<name>.pytorch.json), checked to come from the same checkpoint."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def entry(name):
    with open(os.path.join(ROOT, "models", "models.json")) as f:
        return json.load(f)[name]


def convert(build, name, caps, *extra):
    """Writes `caps` from the model's checkpoint with capsconv (extra: more capsconv options). An EM
    model (arch "em") carries its architecture in its checkpoint; its entry's capsconv_options say
    the rest (preprocessing, class names)."""
    e = entry(name)
    if e["arch"] == "em":
        arch_args = e.get("capsconv_options", [])
    else:
        arch_args = ["--arch", os.path.join(ROOT, e["arch"]) if e["arch"].endswith(".json") else e["arch"]]
    subprocess.run([os.path.join(build, "tools", "capsconv"), os.path.join(ROOT, "models", e["checkpoint"]),
                    *arch_args, "-o", caps, "-q", *extra], check=True)
    return caps


def torch_predictions(name):
    with open(os.path.join(ROOT, "models", name + ".pytorch.json")) as f:
        ref = json.load(f)
    if ref["sha256"] != entry(name)["sha256"]:
        sys.exit(f"{name}.pytorch.json was made from another checkpoint: rerun tools/train/pytorch_predictions.py")
    return ref
