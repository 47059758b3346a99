#!/usr/bin/python3
"""Writes seeded CapsNet checkpoints in the three layouts and three file kinds, PyTorch's outputs
for them (the golden data of capsrt's converter tests), checkpoints capsconv must refuse, and
malformed files. Run with Debian's /usr/bin/python3 (python3-torch 1.13, python3-numpy):

    make_checkpoints.py OUT_DIR            # tiny size: committed in tests/data/checkpoints
    make_checkpoints.py OUT_DIR --stems    # only the deeper stems (tiny_cifar, tiny_norb)
    make_checkpoints.py OUT_DIR --canonical  # canonical size (33 MB each): made during the tests

Everything is seeded: the same command writes the same tensors and golden outputs. (Legacy files
name their storages by memory address and torch's archives carry no fixed bytes beyond that, so a
byte-for-byte comparison of two runs is not expected for those.)
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "train"))
import capsnet_modules as cm  # noqa: E402

TINY = {
    "name": "tiny", "input": [1, 12, 12], "input_scale": 1 / 255, "input_offset": 0.0,
    "conv1": {"channels": 4, "kernel": 3, "stride": 1},
    "primary": {"channels": 8, "dim": 4, "kernel": 3, "stride": 2},
    "classes": 3, "class_dim": 5, "routings": 3, "decoder": [8],
    "class_names": ["cat", "dog", "bird"],
}
CANONICAL = {
    "name": "canonical", "input": [1, 28, 28], "input_scale": 1 / 255, "input_offset": 0.0,
    "conv1": {"channels": 256, "kernel": 9, "stride": 1},
    "primary": {"channels": 256, "dim": 8, "kernel": 9, "stride": 2},
    "classes": 10, "class_dim": 16, "routings": 3, "decoder": [512, 1024],
}
# Deeper stems with padding (issue 24): a CIFAR-10 kind (RGB, four convs: TensorFlow's 'same' with
# stride 2 on even sizes, which pads one more after than before; a 3x5 kernel without ReLU; rows
# of padding on one axis only) and a smallNORB kind (two channels, a strided 5x5 'same').
STEM_CIFAR = {
    "name": "tiny_cifar", "input": [3, 16, 18], "input_scale": 1 / 255, "input_offset": 0.0,
    "stem": [{"channels": 6, "kernel": 3, "stride": 1, "padding": "same"},
             {"channels": 6, "kernel": 3, "stride": 2, "padding": "same"},
             {"channels": 8, "kernel": [3, 5], "stride": 1, "padding": "valid", "relu": False},
             {"channels": 8, "kernel": 2, "stride": 1, "padding": [1, 0]}],
    "primary": {"channels": 8, "dim": 4, "kernel": 3, "stride": 2, "padding": "same"},
    "classes": 3, "class_dim": 5, "routings": 3, "decoder": [8],
}
STEM_NORB = {
    "name": "tiny_norb", "input": [2, 20, 20], "input_scale": 1 / 255, "input_offset": 0.0,
    "stem": [{"channels": 8, "kernel": 5, "stride": 2, "padding": "same"},
             {"channels": 8, "kernel": 3, "stride": 1}],
    "primary": {"channels": 8, "dim": 4, "kernel": 3, "stride": 2},
    "classes": 5, "class_dim": 4, "routings": 3, "decoder": [6],
}
ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
             torch.int64: "I64"}


def save_safetensors(sd, path, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in sd.items():
        t = t.detach().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


# Standard deviation of the capsule transform, chosen so that class capsule lengths land mid-range
# (0.05..0.9) on random inputs: the projects' own inits give lengths near 0 or 1 at these sizes, and
# a golden test on saturated or vanishing outputs would prove little.
TRANSFORM_STD = {("tiny_cifar", "xifengguo"): 25.0, ("tiny_norb", "xifengguo"): 12.0,
                 ("tiny", "xifengguo"): 1.5, ("tiny", "flat5d"): 1.5, ("tiny", "gram-ai"): 8.0,
                 ("canonical", "xifengguo"): 0.3, ("canonical", "flat5d"): 0.3, ("canonical", "gram-ai"): 15.0}


def init_weights(model, layout, arch):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "digitcaps" in name or "route_weights" in name:
                p.normal_(0.0, TRANSFORM_STD[(arch["name"], layout)])


def golden_cases(model, a, n, seed, masks):
    g = torch.Generator().manual_seed(seed)
    cases = []
    for k in range(n):
        x = torch.rand(1, a.in_c, a.in_h, a.in_w, generator=g)
        if k == 0:
            x = (x > 0.7).float() * x  # sparse, digit-like
        for mask in masks:
            y = None if mask < 0 else torch.eye(a.classes)[mask:mask + 1]
            with torch.no_grad():
                scores, poses, recon = model(x, y)
            cases.append({"input": x.flatten().tolist(), "mask": mask, "scores": scores.flatten().tolist(),
                          "poses": poses.flatten().tolist(), "recon": recon.flatten().tolist()})
    return cases


def write_set(out, stem, model, arch, layout, sd, kinds, n_cases, masks, note):
    files = {}
    for kind in kinds:
        path = f"{stem}.{ {'zip': 'pt', 'legacy': 'legacy.pt', 'safetensors': 'safetensors'}[kind] }"
        if kind == "zip":
            torch.save(sd, os.path.join(out, path))
        elif kind == "legacy":
            torch.save(sd, os.path.join(out, path), _use_new_zipfile_serialization=False)
        else:
            save_safetensors(sd, os.path.join(out, path), {"format": "pt", "source": "capsrt golden test"})
        files[kind] = path
    golden = {"layout": layout, "arch": arch, "files": files, "note": note,
              "cases": golden_cases(model, cm.Arch(arch), n_cases, 1234, masks)}
    with open(os.path.join(out, f"{stem}.golden.json"), "w") as f:
        json.dump(golden, f)


def make_model(layout, arch, seed):
    torch.manual_seed(seed)
    model = cm.LAYOUTS[layout](cm.Arch(arch))
    init_weights(model, layout, arch)
    return model.eval()


class FakeStorage:
    def __init__(self, key, storage_type, numel, location="cpu"):
        self.key, self.storage_type, self.numel, self.location = key, storage_type, numel, location


class FakeTensor:
    """Pickles as torch does: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class FakePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.storage_type, obj.key, obj.location, obj.numel)
        return None


def write_torch_zip(path, pickled, storages, prefix="archive"):
    """A torch-style archive: prefix/data.pkl, prefix/data/<key>, prefix/version; all STORED."""
    def entry(name):
        return zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(entry(f"{prefix}/data.pkl"), pickled)
        for key, raw in storages.items():
            z.writestr(entry(f"{prefix}/data/{key}"), raw)
        z.writestr(entry(f"{prefix}/version"), "3\n")


def fake_pickle(obj):
    buf = io.BytesIO()
    FakePickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def make_stems(out):
    """The deeper stems with padding: zip and safetensors, with their architecture files."""
    notes = "seeded by make_checkpoints.py; outputs from the modules in capsnet_modules.py"
    for arch, seed in ((STEM_CIFAR, 20), (STEM_NORB, 21)):
        model = make_model("xifengguo", arch, seed)
        write_set(out, arch["name"], model, arch, "xifengguo", model.state_dict(), ["zip", "safetensors"], 2,
                  [-1, 1], notes)
        json.dump(arch, open(os.path.join(out, arch["name"] + "_arch.json"), "w"), indent=1)


def make_tiny(out):
    make_stems(out)
    notes = "seeded by make_checkpoints.py; outputs from the modules in capsnet_modules.py"
    for layout, seed in (("xifengguo", 1), ("flat5d", 2), ("gram-ai", 3)):
        model = make_model(layout, TINY, seed)
        write_set(out, f"tiny_{layout}", model, TINY, layout, model.state_dict(), ["zip", "legacy", "safetensors"],
                  3, [-1, 1], notes)

    # dtypes: weights stored as float16 / bfloat16 / float64; golden outputs from the same rounded weights
    for dtype, tag in ((torch.float16, "f16"), (torch.bfloat16, "bf16"), (torch.float64, "f64")):
        model = make_model("xifengguo", TINY, 10)
        sd = collections.OrderedDict((k, v.to(dtype)) for k, v in model.state_dict().items())
        model.load_state_dict(collections.OrderedDict((k, v.float()) for k, v in sd.items()))
        write_set(out, f"tiny_xifengguo_{tag}", model, TINY, "xifengguo", sd, ["zip", "safetensors"], 1, [-1],
                  f"weights stored as {dtype}")

    # A training checkpoint: wrapper dict, DataParallel's 'module.' prefix, optimizer state
    model = make_model("xifengguo", TINY, 11)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    length, _, recon = model(torch.rand(2, 1, 12, 12))
    (length.sum() + recon.sum()).backward()
    opt.step()
    model.eval()
    sd = collections.OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    wrapper = {"epoch": 7, "state_dict": sd, "optimizer": opt.state_dict(), "best_acc": 0.5, "args": ["--lr", 1e-3]}
    buf = os.path.join(out, "tiny_wrapped.pt")
    torch.save(wrapper, buf)
    golden = {"layout": "xifengguo", "arch": TINY, "files": {"zip": "tiny_wrapped.pt"},
              "note": "{'epoch','state_dict' with module. prefix,'optimizer'} after one Adam step",
              "cases": golden_cases(model, cm.Arch(TINY), 1, 5, [-1])}
    json.dump(golden, open(os.path.join(out, "tiny_wrapped.golden.json"), "w"))

    # Saved from a GPU: storages carry location 'cuda:0' (torch's own writer, location tag forced)
    model = make_model("xifengguo", TINY, 12)
    real_tag = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        write_set(out, "tiny_cuda", model, TINY, "xifengguo", model.state_dict(), ["zip", "legacy"], 1, [-1],
                  "storage location cuda:0")
    finally:
        torch.serialization.location_tag = real_tag

    # Views and shared storages: conv1 weight and bias slices of one storage, digitcaps.weight a
    # transposed (non-contiguous) view, decoder weights at an offset into a larger storage
    model = make_model("xifengguo", TINY, 13)
    sd = model.state_dict()
    views = collections.OrderedDict()
    w1, b1 = sd["conv1.weight"], sd["conv1.bias"]
    pool = torch.cat([torch.full((5,), 9.0), w1.flatten(), b1, torch.full((3,), 9.0)])
    views["conv1.weight"] = pool[5:5 + w1.numel()].view(w1.shape)
    views["conv1.bias"] = pool[5 + w1.numel():5 + w1.numel() + b1.numel()]
    for k in ("primarycaps.conv2d.weight", "primarycaps.conv2d.bias"):
        views[k] = sd[k]
    views["digitcaps.weight"] = sd["digitcaps.weight"].transpose(2, 3).contiguous().transpose(2, 3)
    assert not views["digitcaps.weight"].is_contiguous()
    for k in ("decoder.0.weight", "decoder.0.bias", "decoder.2.weight", "decoder.2.bias"):
        big = torch.cat([torch.zeros(7), sd[k].flatten()])
        views[k] = big[7:].view(sd[k].shape)
    write_set(out, "tiny_views", model, TINY, "xifengguo", views, ["zip", "legacy"], 1, [-1],
              "non-contiguous and offset views, shared storages")

    # Files capsconv must refuse with advice
    model = make_model("xifengguo", TINY, 14)
    torch.save(model, os.path.join(out, "refuse_whole_module.pt"))
    traced = torch.jit.trace(cm.CapsuleNet(cm.Arch(TINY)).eval(), torch.rand(1, 1, 12, 12), check_trace=False)
    traced.save(os.path.join(out, "refuse_torchscript.pt"))

    json.dump(TINY, open(os.path.join(out, "tiny_arch.json"), "w"), indent=1)
    make_malformed(out)


def make_malformed(out):
    good = open(os.path.join(out, "tiny_xifengguo.pt"), "rb").read()
    open(os.path.join(out, "bad_truncated.pt"), "wb").write(good[:len(good) // 2])
    # Central directory damaged: the first central header's signature and version bytes
    cd = good.find(b"PK\x01\x02")
    damaged = bytearray(good)
    damaged[cd:cd + 8] = b"\xde\xad\xbe\xef\xde\xad\xbe\xef"
    open(os.path.join(out, "bad_central_directory.pt"), "wb").write(bytes(damaged))
    # Entry sizes that lie: the central directory claims a storage is 1000 bytes longer
    z = zipfile.ZipFile(io.BytesIO(good))
    target = [i for i in z.infolist() if "/data/" in i.filename][0]
    pos = good.find(b"PK\x01\x02" + good[good.find(b"PK\x01\x02") + 4:][:0])
    lying = bytearray(good)
    p = cd
    while True:
        name_len, extra_len, comment_len = struct.unpack("<HHH", lying[p + 28:p + 34])
        name = bytes(lying[p + 46:p + 46 + name_len]).decode()
        if name == target.filename:
            comp, uncomp = struct.unpack("<II", lying[p + 20:p + 28])
            lying[p + 20:p + 28] = struct.pack("<II", comp + 1000, uncomp + 1000)
            break
        p += 46 + name_len + extra_len + comment_len
    open(os.path.join(out, "bad_lying_size.pt"), "wb").write(bytes(lying))

    # Pickle with a forbidden GLOBAL (it would run a shell command if unpickled by pickle.load)
    evil = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
    write_torch_zip(os.path.join(out, "bad_forbidden_global.pt"), evil, {})

    # A complete tiny state_dict in which conv1.weight's record is damaged one way or another
    base = torch.load(os.path.join(out, "tiny_xifengguo.pt"))
    def one(name, offset=0, stride=None, stype=torch.FloatStorage, cut=0):
        sd, storages = collections.OrderedDict(), {}
        for k, (key, t) in enumerate(base.items()):
            raw = t.contiguous().numpy().tobytes()
            st, off, strd = FakeStorage(str(k), torch.FloatStorage, t.numel()), 0, t.stride()
            if key == "conv1.weight":
                st = FakeStorage(str(k), stype, t.numel())
                off, strd, raw = offset, stride or t.stride(), raw[:len(raw) - cut]
            sd[key] = FakeTensor(st, off, t.shape, strd)
            storages[str(k)] = raw
        write_torch_zip(os.path.join(out, name), fake_pickle(sd), storages)
    one("bad_offset_past_storage.pt", offset=4)                  # 36 elements needed from 4: ends at 39 of 36
    one("bad_stride_past_storage.pt", stride=(10, 9, 3, 1))      # last element at 3*10+8 = 38 of 36
    one("bad_storage_too_short.pt", cut=44)                      # the record says 36 elements, 25 are there
    one("bad_unknown_dtype.pt", stype=torch.ComplexFloatStorage)

    # safetensors
    def st(name, header, data_len, raw_header=None):
        text = raw_header if raw_header is not None else json.dumps(header).encode()
        open(os.path.join(out, name), "wb").write(struct.pack("<Q", len(text)) + text + b"\0" * data_len)
    t = {"dtype": "F32", "shape": [4, 1, 3, 3]}
    st("bad_st_overlap.safetensors", {"a": dict(t, data_offsets=[0, 144]), "b": dict(t, data_offsets=[100, 244])}, 244)
    st("bad_st_out_of_range.safetensors", {"a": dict(t, data_offsets=[0, 144])}, 100)
    st("bad_st_wrong_length.safetensors", {"a": dict(t, data_offsets=[0, 140])}, 140)
    st("bad_st_fp8.safetensors", {"a": {"dtype": "F8_E4M3", "shape": [4], "data_offsets": [0, 4]}}, 4)
    st("bad_st_json.safetensors", None, 16, raw_header=b'{"a": {"dtype": "F32", "shape": [4,')
    with open(os.path.join(out, "bad_st_header_length.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 1 << 60) + b'{"a": 1}')


def make_canonical(out):
    for layout, seed in (("xifengguo", 21), ("flat5d", 22), ("gram-ai", 23)):
        model = make_model(layout, CANONICAL, seed)
        write_set(out, f"canonical_{layout}", model, CANONICAL, layout, model.state_dict(),
                  ["zip", "legacy", "safetensors"], 2, [-1, 3], "seeded, canonical size")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--canonical", action="store_true")
    ap.add_argument("--stems", action="store_true", help="only the deeper stems (tiny_cifar, tiny_norb)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(2)
    (make_canonical if args.canonical else make_stems if args.stems else make_tiny)(args.out)


if __name__ == "__main__":
    main()
