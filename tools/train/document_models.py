#!/usr/bin/python3
"""Measures every trained model in models/ with capsrt itself (capsconv, then capsrun --eval on the
official test set) and writes models/models.json (what the accuracy tests check) and
docs/models.md. Run from the repository root after a build:

    /usr/bin/python3 tools/train/document_models.py build/release/tools [--remeasure]

A model whose checkpoint has the SHA-256 recorded in models.json keeps its recorded measurements
(a canonical model takes about 16 minutes on 2 cores); --remeasure measures every model again.
"""
import hashlib
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train import command_line  # noqa: E402
from train_em import command_line as em_command_line  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODELS = [  # name, arch (preset or JSON with class names), dataset, subset checked in CI (0: all)
    ("canonical_mnist", "canonical", "mnist", 1000),
    ("small_mnist", "small", "mnist", 0),
    ("canonical_fashion", "tools/train/arch/canonical_fashion.json", "fashion", 1000),
    ("small_fashion", "tools/train/arch/small_fashion.json", "fashion", 0),
    ("em_mnist", "em", "mnist", 0),  # matrix capsules with EM routing (train_em.py, docs/em-routing.md)
    ("em_fashion", "em", "fashion", 0),
]
# capsconv's options for the EM models, whose checkpoints carry their architecture (the input
# normalisation is capsconv's default for them, the one train_em.py trains with).
EM_OPTIONS = {
    "em_mnist": [],
    "em_fashion": ["--preprocess", "fashion-mnist", "--class-names",
                   "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot"],
}
DATA = {
    "mnist": ("data/mnist/t10k-images-idx3-ubyte", "data/mnist/t10k-labels-idx1-ubyte"),
    "fashion": ("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"),
}
# Why a model's recipe differs from the one described at the top of docs/models.md, or how it was settled.
NOTES = {
    "small_fashion": "with the recipe above the small net underfits Fashion-MNIST: after 15 epochs it scored 87.94% "
                     "on the test set (capsrt and PyTorch alike) and 88.6% on its own, unshifted, training images. "
                     "This model is trained without the random shifts, with the learning rate decayed x0.95 per "
                     "epoch, for 30 epochs, on the first 55,000 training images. That recipe was chosen by the "
                     "accuracy on the last 5,000 (`--val 5000`), which it does not train on, not by the test set.",
    "canonical_fashion": "the recipe above, but first queued for 6 epochs, a count sized for the 25-minute epochs of "
                         "the time before huge pages. It was raised to 15, the count of canonical_mnist, after epoch 2 "
                         "(86.89% by PyTorch), before any later result was seen, and the run resumed from its epoch-2 "
                         "state.",
    "em_mnist": "A=B=C=D=32 (config `c32`), the network the issue names, at batch 32 as yl-1993's README "
                "trained it (its 99.3%), with random shifts of up to 2 px, in two stages: its train.py's learning "
                "rate (Adam 0.01) for 10 epochs while the margin grows to 0.9, then 3 epochs at 1e-3 and 3 at 1e-4 "
                "(99.19%, one image short of 99.2%); then, from those weights with a fresh Adam and the margin at "
                "0.9, 6 epochs at 1e-3 and 2 at 1e-4 (train_em.py --init): in the first stage both the test and "
                "the training accuracy still rose at 1e-3 and stayed flat at 1e-4. The second stage was fixed "
                "before it ran and its last epoch's weights are shipped, with no choice by the test set. Chosen "
                "after three runs that missed 99.2% (docs/em-routing.md, \"Training\"): yl-1993's C=D=16 network "
                "at batch 128, 98.94% with a shorter ending and 99.07% with this one and the shifts; c32 at batch "
                "128, stopped after 11 epochs at 98.53%.",
    "em_fashion": "the network and recipe of the first em_mnist (C=D=8, 6 epochs at lr 0.01, then one at 1e-3 "
                  "and one at 1e-4). PyTorch's test accuracy by epoch: 81.79, 83.07, 83.29, 84.16, 83.25, 85.26, "
                  "then the annealing epochs 86.66 and 86.80%. It misses the 88% target: its running accuracy on "
                  "its own training images in the last epoch was 88.71%, so it underfits; retraining it with "
                  "em_mnist's larger network and longer ending is the next step.",
}
TARGET = {"canonical_mnist": 0.995, "small_mnist": 0.990, "canonical_fashion": 0.90, "small_fashion": 0.90,
          "em_mnist": 0.992, "em_fashion": 0.88}


def capsconv_args(name, arch, relative=False):
    """What capsconv needs besides the checkpoint: --arch, or an EM model's own options. An
    architecture file's path from the repository's root when `relative` (the docs), else absolute."""
    if arch == "em":
        return EM_OPTIONS[name]
    return ["--arch", os.path.join(ROOT, arch) if arch.endswith(".json") and not relative else arch]


def evaluate(tools, caps, dataset, limit=0):
    images, labels = DATA[dataset]
    cmd = [os.path.join(tools, "capsrun"), caps, "--idx-images", os.path.join(ROOT, images), "--idx-labels",
           os.path.join(ROOT, labels), "--eval", "--json", "-q"] + (["--limit", str(limit)] if limit else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def measure(tools, name, arch, dataset, subset, ckpt):
    """capsrt's figures for one checkpoint: convert it, evaluate it on the whole test set (and on
    the CI's subset)."""
    caps = os.path.join("/tmp", name + ".caps")
    subprocess.run([os.path.join(tools, "capsconv"), ckpt, *capsconv_args(name, arch), "-o", caps, "-q"], check=True)
    full = evaluate(tools, caps, dataset)
    m = {"capsrt_test_correct": full["correct"], "capsrt_test_count": full["count"],
         "capsrt_test_accuracy": full["accuracy"], "latency_ms_median": round(full["latency_ms"]["median"], 2),
         "per_class_accuracy": {c["class"]: c["accuracy"] for c in full["per_class"]}}
    if subset:
        part = evaluate(tools, caps, dataset, subset)
        m.update({"capsrt_subset_correct": part["correct"], "capsrt_subset_count": part["count"]})
    return m


MEASURED = ("capsrt_test_correct", "capsrt_test_count", "capsrt_test_accuracy", "latency_ms_median",
            "per_class_accuracy", "capsrt_subset_correct", "capsrt_subset_count")


def main():
    tools = os.path.abspath(sys.argv[1])
    remeasure = "--remeasure" in sys.argv[2:]
    manifest_path = os.path.join(ROOT, "models", "models.json")
    recorded = json.load(open(manifest_path)) if os.path.exists(manifest_path) else {}
    manifest, rows, pending = {}, [], []
    for name, arch, dataset, subset in MODELS:
        ckpt = os.path.join(ROOT, "models", name + ".pt")
        if not os.path.exists(ckpt):
            print(f"{name}: not trained yet")
            pending.append(name)
            continue
        digest = sha256(ckpt)
        old = recorded.get(name, {})
        if not remeasure and old.get("sha256") == digest and "per_class_accuracy" in old:
            measured = {k: old[k] for k in MEASURED if k in old}
            how = "recorded"
        else:
            measured = measure(tools, name, arch, dataset, subset, ckpt)
            how = "measured"
        entry = {"checkpoint": name + ".pt", "sha256": digest, "arch": arch, "dataset": dataset,
                 "target_accuracy": TARGET[name], **measured}
        hist = json.load(open(os.path.join(ROOT, "models", name + ".history.json")))
        last = hist["history"][-1]
        # a second stage (train_em.py --init) counts its first stage's epochs and time too
        epochs = hist.get("first_stage", {}).get("history", []) + hist["history"]
        entry.update({"epochs": len(epochs), "train_minutes": round(sum(h["train_seconds"] for h in epochs) / 60),
                      "pytorch_test_accuracy": last["test_acc_pytorch"], "parameters": hist["parameters"]})
        if arch == "em":  # what pytorch_predictions.py and the tests need to rebuild and convert it
            entry.update({"em_config": hist["config"], "em_normalisation": hist["normalisation"],
                          "capsconv_options": EM_OPTIONS[name]})
        manifest[name] = entry
        print(f"{name}: capsrt {100 * entry['capsrt_test_accuracy']:.2f}% ({entry['capsrt_test_correct']}/"
              f"{entry['capsrt_test_count']}, {how}), PyTorch {100 * last['test_acc_pytorch']:.2f}%")
        # What only the document shows, beside the manifest entry.
        options = " ".join(shlex.quote(a) for a in capsconv_args(name, arch, relative=True))
        if arch == "em":
            c = hist["config"]
            arch_name = f"EM (yl-1993), A {c['A']} B {c['B']} C {c['C']} D {c['D']}, {c['iters']} iterations"
            train = em_command_line(hist["args"])
            if "first_stage" in hist:  # train_em.py --init: the first stage's command, then the second's
                stage1 = "STATE_DIR/stage1.pt"
                train = (em_command_line(hist["first_stage"]["args"]) + f" --state STATE_DIR/1 --final {stage1}`, then "
                         f"`/usr/bin/python3 " + em_command_line(dict(hist["args"], init=stage1)))
        else:
            arch_name, train = hist["args"]["arch"], command_line(hist["args"])
        doc = {"per_class": list(entry["per_class_accuracy"].items()),
               "arch_name": arch_name,
               "convert": f"capsconv models/{name}.pt {options} -o {name}.caps".replace("  ", " "),
               "train": train + f" --state STATE_DIR --final models/{name}.pt"}
        rows.append((name, dict(entry, **doc)))
    json.dump(manifest, open(manifest_path, "w"), indent=1)
    write_doc(rows, pending)


KEEP_BEGIN = "<!-- written by hand: document_models.py keeps this block -->"
KEEP_END = "<!-- end of the block written by hand -->"


def kept_blocks(path):
    """The blocks of the current document between KEEP_BEGIN and KEEP_END, markers included (figures
    another tool measured, such as the int8 table), each after an empty line."""
    lines, block = [], None
    for line in (open(path).read().splitlines() if os.path.exists(path) else []):
        if line == KEEP_BEGIN:
            block = [line]
        elif block is not None:
            block.append(line)
            if line == KEEP_END:
                lines += [""] + block
                block = None
    if block is not None:
        sys.exit(f"{path}: '{KEEP_BEGIN}' without '{KEEP_END}'")
    return lines


def write_doc(rows, pending):
    doc_path = os.path.join(ROOT, "docs", "models.md")
    lines = ["# Trained models", "",
             "Plain PyTorch state_dicts in XifengGuo/CapsNet-Pytorch's key layout (what users bring), trained",
             "by `tools/train/train.py` with Debian's python3-torch on this project's 2-core CPU machines:",
             "margin loss (m+ 0.9, m- 0.1, lambda 0.5) + 0.392 x MSE reconstruction, Adam 1e-3 decayed x0.9",
             "per epoch, random shifts of up to 2 px, batch 100, seed 1. The weights of the last epoch are",
             "shipped (no model selection on the test set). `tools/train/train_all.sh` trains them all, resumably.",
             "The EM models (matrix capsules with EM routing) are yl-1993/Matrix-Capsules-EM-PyTorch state_dicts",
             "trained by `tools/train/train_em.py` with that code's recipe (docs/em-routing.md, \"Training\").",
             "A model whose command line below has more options than these deviates from this recipe, for",
             "the reason given under the table.",
             "", "Accuracies are measured by capsrt itself: the checkpoint converted with `capsconv`, then",
             "`capsrun --eval` on the official 10,000-image test set (`tools/train/document_models.py`, which",
             "also writes `models/models.json`, the figures the tests check).", "",
             "| model | architecture | parameters | dataset | epochs | training time | test accuracy (capsrt) | (PyTorch) | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, e in rows:
        lines.append(f"| `models/{name}.pt` | {e['arch_name']} | {e['parameters']:,} | {e['dataset']} | {e['epochs']} | "
                     f"{e['train_minutes']} min | **{100 * e['capsrt_test_accuracy']:.2f}%** ({e['capsrt_test_correct']}/"
                     f"{e['capsrt_test_count']}) | {100 * e['pytorch_test_accuracy']:.2f}% | {100 * e['target_accuracy']:.1f}% |")
    lines += ["", "Training time is wall time on a 2-core machine that other jobs shared at times. The small models,",
              "epochs 1 to 8 of canonical_mnist and epochs 1 to 3 of canonical_fashion (the third in part) were",
              "trained before `train.py` asked malloc for huge pages (see docs/design.md), which made a step",
              "about 3 times faster: a canonical MNIST epoch took 25 to 33 minutes before and about 8 after.", "",
              "The CI checks every model on the full test set against PyTorch's own answers for the same",
              "images (`models/<name>.pytorch.json`, made by `tools/train/pytorch_predictions.py`): the number",
              "correct and the images whose answer differs, each to 5 of 10,000 (tests/check_accuracy.py), with",
              "the kernel set the machine picks, with AVX2 forced, and with the reference kernels (on the",
              "first 300 images of the canonical models' test sets and 2,000 of the others', to keep CI",
              "under 30 minutes: `CAPSRT_REFERENCE_LIMIT`). The figures above were measured with the reference",
              "kernels and hold on every SIMD set (docs/performance.md)."]
    subsets = [f"- `{name}`: {e['capsrt_subset_correct']} of the first {e['capsrt_subset_count']} correct."
               for name, e in rows if "capsrt_subset_count" in e]
    if subsets:
        lines += ["", *subsets]
    noted = [(name, NOTES[name]) for name, _ in rows if name in NOTES]
    if noted:
        lines += ["", "Notes on single models (a recipe that differs, or how it was settled):", ""]
        lines += [f"- `{name}`: {text}" for name, text in noted]
    lines += kept_blocks(doc_path)
    lines += ["", "Per-class test accuracy (capsrt):", ""]
    for dataset in dict.fromkeys(e["dataset"] for _, e in sorted(rows, key=lambda r: r[1]["dataset"] != "mnist")):
        group = [(name, e) for name, e in rows if e["dataset"] == dataset]
        classes = [c for c, _ in group[0][1]["per_class"]]
        lines += ["| model | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
        for name, e in group:
            lines.append(f"| `{name}` | " + " | ".join("-" if a is None else f"{100 * a:.1f}" for _, a in e["per_class"]) + " |")
        lines.append("")
    lines += ["Commands that trained them (STATE_DIR outside the repository), and that convert them:", ""]
    for name, e in rows:
        lines.append(f"- `{name}`: `/usr/bin/python3 {e['train']}`; `{e['convert']}`")
    lines += ["", "Per-epoch loss, PyTorch test accuracy and time are in `models/<name>.history.json`.", ""]
    if pending:
        lines += ["Still in training (`tools/train/train_all.sh`): " + ", ".join(f"`{p}`" for p in pending) + ".", ""]
    open(doc_path, "w").write("\n".join(lines))


if __name__ == "__main__":
    main()
