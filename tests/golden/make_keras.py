#!/usr/bin/python3
"""Keras HDF5 fixtures for capsconv's Keras reader, written with h5py (Debian's python3-h5py) in
the structure Keras 2.x gives `model.save('x.h5')`, with outputs computed here by a forward pass
that follows the Keras layers' own code (channels-last convolutions with TensorFlow's padding,
the capsule layers of Q7-CapsNets), in PyTorch: independent of capsrt. Keras and TensorFlow are
not on these machines, so the files are made as Keras writes them:

  root attributes   keras_version, backend, model_config (the model's JSON: class_name
                    "Functional", config.layers[] with class_name, config, name, inbound_nodes)
  model_weights/    attributes layer_names, keras_version, backend; one group per layer with the
                    attribute weight_names ("conv2d/kernel:0", ...; a nested layer's weights are
                    "primary_capsule/primarycap_conv2d/kernel:0"), each weight a dataset at
                    model_weights/<layer>/<weight name>

Conv kernels are HWIO, Dense kernels (in, out), the capsule transform [J, I, DO, DI].

    make_keras.py OUT_DIR     # writes q7_<kind>.h5 and q7_<kind>.golden.json for each kind, and
                              # capsnet_keras_{mnist,rgb}.h5 with their goldens, and
                              # capsnet_keras_weights.h5 (save_weights of the mnist one) + .arch.json
"""
import json
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

# Q7-CapsNets' three networks, at small sizes: the kinds of input and stem each one has.
KINDS = {
    "mnist": {"input": [28, 28, 1], "convs": [(16, 7, 1, "valid")], "primary": (4, 4, 7, 2, "valid"),
              "classes": 10, "dim": 4},
    "cifar": {"input": [32, 32, 3], "convs": [(8, 3, 1, "valid"), (8, 3, 1, "same"), (16, 3, 2, "same"),
                                              (16, 3, 2, "valid")],
              "primary": (8, 4, 3, 2, "valid"), "classes": 10, "dim": 5},
    "norb": {"input": [32, 32, 2], "convs": [(8, 5, 2, "same"), (16, 3, 1, "valid")],
             "primary": (4, 4, 3, 2, "same"), "classes": 5, "dim": 6},
}


def tf_pad(n, k, s, padding):
    """TensorFlow's padding of one axis: (before, after)."""
    if padding == "valid":
        return 0, 0
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv_nhwc(x, kernel, bias, stride, padding):
    """Keras Conv2D, channels_last: x [H, W, C], kernel HWIO."""
    h, w = x.shape[0], x.shape[1]
    kh, kw = kernel.shape[0], kernel.shape[1]
    top, bottom = tf_pad(h, kh, stride, padding)
    left, right = tf_pad(w, kw, stride, padding)
    t = torch.from_numpy(x).permute(2, 0, 1)[None].double()
    t = F.pad(t, (left, right, top, bottom))
    wt = torch.from_numpy(kernel).permute(3, 2, 0, 1).double()
    y = F.conv2d(t, wt, torch.from_numpy(bias).double(), stride=stride)
    return y[0].permute(1, 2, 0).numpy()


def squash_q7(s):
    """Q7-CapsNets' squash: |s| / (1 + |s|^2) * s."""
    n2 = (s ** 2).sum(axis=-1, keepdims=True)
    return np.sqrt(n2) / (1 + n2) * s


def capsule_q7(u, W, routings, squash=squash_q7):
    """Q7-CapsNets' Capsule (and CapsNet-Keras's CapsuleLayer, with its squash): u [I, DI],
    W [J, I, DO, DI], u_hat = W @ u per (j, i); b [J, I]; c = softmax over the J classes."""
    u_hat = np.einsum("jidk,ik->jid", W, u)
    b = np.zeros(u_hat.shape[:2])
    for r in range(routings):
        c = np.exp(b - b.max(axis=0, keepdims=True))
        c /= c.sum(axis=0, keepdims=True)
        v = squash(np.einsum("ji,jid->jd", c, u_hat))
        if r < routings - 1:
            b = b + np.einsum("jid,jd->ji", u_hat, v)
    return v


def build(kind, seed, k=None):
    k = k or KINDS[kind]
    rng = np.random.default_rng(seed)
    h, w, c = k["input"]
    layers = [{"class_name": "InputLayer", "name": "input_1", "config": {
        "batch_input_shape": [None, h, w, c], "dtype": "float32", "sparse": False, "ragged": False,
        "name": "input_1"}, "inbound_nodes": []}]
    weights, ops, prev = {}, [], "input_1"
    for n, (filters, ks, stride, padding) in enumerate(k["convs"]):
        name = "conv2d" if n == 0 else f"conv2d_{n}"
        fan_in = ks * ks * c
        kern = rng.uniform(-1, 1, size=(ks, ks, c, filters)) * np.sqrt(6 / fan_in)
        bias = rng.uniform(-0.1, 0.1, size=filters)
        weights[name] = [(f"{name}/kernel:0", kern), (f"{name}/bias:0", bias)]
        layers.append({"class_name": "Conv2D", "name": name, "config": {
            "name": name, "trainable": True, "dtype": "float32", "filters": filters, "kernel_size": [ks, ks],
            "strides": [stride, stride], "padding": padding, "data_format": "channels_last",
            "dilation_rate": [1, 1], "groups": 1, "activation": "linear", "use_bias": True,
            "kernel_initializer": {"class_name": "HeUniform", "config": {"seed": None}},
            "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
            "bias_regularizer": None, "activity_regularizer": None,
            "kernel_constraint": {"class_name": "MaxNorm", "config": {"max_value": 0.5, "axis": 0}},
            "bias_constraint": None}, "inbound_nodes": [[[prev, 0, 0, {}]]]})
        act = "activation" if n == 0 else f"activation_{n}"
        layers.append({"class_name": "Activation", "name": act, "config": {
            "name": act, "trainable": True, "dtype": "float32", "activation": "relu"},
            "inbound_nodes": [[[name, 0, 0, {}]]]})
        ops.append(("conv", kern, bias, stride, padding))
        prev, c = act, filters
    num, dim, ks, stride, padding = k["primary"]
    kern = rng.uniform(-1, 1, size=(ks, ks, c, num * dim)) * np.sqrt(6 / (ks * ks * c))
    bias = rng.uniform(-0.1, 0.1, size=num * dim)
    weights["primary_capsule"] = [("primary_capsule/primarycap_conv2d/kernel:0", kern),
                                  ("primary_capsule/primarycap_conv2d/bias:0", bias)]
    layers.append({"class_name": "PrimaryCapsule", "name": "primary_capsule", "config": {
        "name": "primary_capsule", "trainable": True, "dtype": "float32", "num_capsule": num, "dim_capsule": dim,
        "kernel_size": ks, "strides": stride, "padding": padding}, "inbound_nodes": [[[prev, 0, 0, {}]]]})
    # The primary capsules' count: the conv's output pixels x num.
    x = np.zeros((h, w, k["input"][2]))
    for op in ops:
        x = conv_nhwc(x, op[1], op[2], op[3], op[4])
    pc = conv_nhwc(x, kern, bias, stride, padding)
    n_in = pc.shape[0] * pc.shape[1] * num
    J, DO = k["classes"], k["dim"]
    W = rng.normal(0, 1, size=(J, n_in, DO, dim)) * {"mnist": 0.12, "cifar": 2.0, "norb": 0.15}.get(kind, 0.3)
    weights["capsule"] = [("capsule/weights:0", W)]
    layers.append({"class_name": "Capsule", "name": "capsule", "config": {
        "name": "capsule", "trainable": True, "dtype": "float32", "num_capsule": J, "dim_capsule": DO,
        "routings": 3}, "inbound_nodes": [[["primary_capsule", 0, 0, {}]]]})
    layers.append({"class_name": "Length", "name": "length", "config": {
        "name": "length", "trainable": True, "dtype": "float32"}, "inbound_nodes": [[["capsule", 0, 0, {}]]]})
    config = {"class_name": "Functional", "config": {"name": "model", "layers": layers,
                                                       "input_layers": [["input_1", 0, 0]],
                                                       "output_layers": [["length", 0, 0]]}}
    # The weights as float32, the forward in float64 from the same rounded values.
    weights = {n: [(wn, np.asarray(v, dtype=np.float32)) for wn, v in ws] for n, ws in weights.items()}
    return config, weights


def forward(config, weights, x):
    """x [H, W, C] float: the Keras model's layers in order."""
    wd = {wn.split("/", 1)[1] if wn.count("/") > 1 else wn: v.astype(np.float64)
          for ws in weights.values() for wn, v in ws}
    for layer in config["config"]["layers"]:
        cls, cfg = layer["class_name"], layer["config"]
        if cls == "Conv2D":
            x = conv_nhwc(x, wd[f"{cfg['name']}/kernel:0"], wd[f"{cfg['name']}/bias:0"], cfg["strides"][0],
                          cfg["padding"])
        elif cls == "Activation":
            x = np.maximum(x, 0)
        elif cls == "PrimaryCapsule":
            y = conv_nhwc(x, wd["primarycap_conv2d/kernel:0"], wd["primarycap_conv2d/bias:0"], cfg["strides"],
                          cfg["padding"])
            x = squash_q7(y.reshape(-1, cfg["dim_capsule"]))  # Keras Reshape([-1, dim]) on NHWC memory
        elif cls == "Capsule":
            x = capsule_q7(x, wd["capsule/weights:0"], cfg["routings"])
            poses = x
        elif cls == "Length":
            x = np.sqrt((x ** 2).sum(axis=-1))
    return x, poses


# CapsNet-Keras (XifengGuo/CapsNet-Keras, capsulelayers.py): its squash, Length and routing.
EPS = 1e-7  # K.epsilon()


def squash_ck(s):
    """CapsNet-Keras's squash: |s|^2 / (1 + |s|^2) / sqrt(|s|^2 + eps) * s."""
    n2 = (s ** 2).sum(axis=-1, keepdims=True)
    return n2 / (1 + n2) / np.sqrt(n2 + EPS) * s


def dense_config(name, units, activation, input_dim=None):
    cfg = {"name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
           "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
           "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
           "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    if input_dim is not None:
        cfg["batch_input_shape"] = [None, input_dim]
    return {"class_name": "Dense", "config": cfg}


def conv_config(name, filters, ks, stride, padding, activation, prev):
    return {"class_name": "Conv2D", "name": name, "config": {
        "name": name, "trainable": True, "dtype": "float32", "filters": filters, "kernel_size": [ks, ks],
        "strides": [stride, stride], "padding": padding, "data_format": "channels_last", "dilation_rate": [1, 1],
        "groups": 1, "activation": activation, "use_bias": True}, "inbound_nodes": [[[prev, 0, 0, {}]]]}


# CapsNet-Keras's network at small sizes. "mnist": its training model (inputs [x, y]; the Mask
# reads the label input; the decoder a Sequential with batch_input_shape on its first Dense,
# weights named dense_1.. as Keras 2.2 did). "rgb": its evaluation model (the Mask reads the
# capsules only) on 16x16 RGB, the decoder a Sequential led by an InputLayer (Keras 2.4+), the
# Length listed after the decoder.
CK_KINDS = {
    "mnist": {"input": [28, 28, 1], "conv": (8, 9, 1, "valid"), "primary": (2, 8, 9, 2, "valid"), "classes": 10,
              "dim": 6, "routings": 3, "decoder": [16, 24], "dense_names": ["dense_1", "dense_2", "dense_3"],
              "train": True},
    "rgb": {"input": [16, 16, 3], "conv": (12, 5, 1, "valid"), "primary": (4, 6, 5, 2, "same"), "classes": 5,
            "dim": 8, "routings": 2, "decoder": [16, 24], "dense_names": ["dense", "dense_1", "dense_2"],
            "train": False},
}


def build_ck(kind, seed):
    k = CK_KINDS[kind]
    rng = np.random.default_rng(seed)
    h, w, c = k["input"]
    layers = [{"class_name": "InputLayer", "name": "input_1", "config": {
        "batch_input_shape": [None, h, w, c], "dtype": "float32", "sparse": False, "name": "input_1"},
        "inbound_nodes": []}]
    weights = {}
    filters, ks, stride, padding = k["conv"]
    kern = rng.uniform(-1, 1, size=(ks, ks, c, filters)) * np.sqrt(6 / (ks * ks * c))
    weights["conv1"] = [("conv1/kernel:0", kern), ("conv1/bias:0", rng.uniform(-0.1, 0.1, size=filters))]
    layers.append(conv_config("conv1", filters, ks, stride, padding, "relu", "input_1"))
    n_ch, dim, ks2, stride2, padding2 = k["primary"]
    kern = rng.uniform(-1, 1, size=(ks2, ks2, filters, n_ch * dim)) * np.sqrt(6 / (ks2 * ks2 * filters))
    weights["primarycap_conv2d"] = [("primarycap_conv2d/kernel:0", kern),
                                    ("primarycap_conv2d/bias:0", rng.uniform(-0.1, 0.1, size=n_ch * dim))]
    layers.append(conv_config("primarycap_conv2d", n_ch * dim, ks2, stride2, padding2, "linear", "conv1"))
    layers.append({"class_name": "Reshape", "name": "primarycap_reshape", "config": {
        "name": "primarycap_reshape", "trainable": True, "dtype": "float32", "target_shape": [-1, dim]},
        "inbound_nodes": [[["primarycap_conv2d", 0, 0, {}]]]})
    layers.append({"class_name": "Lambda", "name": "primarycap_squash", "config": {
        "name": "primarycap_squash", "trainable": True, "dtype": "float32",
        "function": ["4wEAAAAAAAAA", None, None], "function_type": "lambda", "module": "capsulelayers",
        "output_shape": None, "output_shape_type": "raw", "arguments": {}},
        "inbound_nodes": [[["primarycap_reshape", 0, 0, {}]]]})
    x = np.zeros((h, w, c))
    x = conv_nhwc(x, weights["conv1"][0][1], weights["conv1"][1][1], stride, padding)
    n_in = conv_nhwc(x, kern, weights["primarycap_conv2d"][1][1], stride2, padding2).size // dim
    J, DO = k["classes"], k["dim"]
    weights["digitcaps"] = [("digitcaps/W:0", rng.normal(0, 0.4, size=(J, n_in, DO, dim)))]
    layers.append({"class_name": "CapsuleLayer", "name": "digitcaps", "config": {
        "name": "digitcaps", "trainable": True, "dtype": "float32", "num_capsule": J, "dim_capsule": DO,
        "routings": k["routings"]}, "inbound_nodes": [[["primarycap_squash", 0, 0, {}]]]})
    length = {"class_name": "Length", "name": "capsnet", "config": {"name": "capsnet", "trainable": True,
                                                                      "dtype": "float32"},
              "inbound_nodes": [[["digitcaps", 0, 0, {}]]]}
    mask_in = [["digitcaps", 0, 0, {}]]
    if k["train"]:
        layers.append({"class_name": "InputLayer", "name": "input_2", "config": {
            "batch_input_shape": [None, J], "dtype": "float32", "sparse": False, "name": "input_2"},
            "inbound_nodes": []})
        mask_in.append(["input_2", 0, 0, {}])
    layers.append({"class_name": "Mask", "name": "mask_1", "config": {"name": "mask_1", "trainable": True,
                                                                        "dtype": "float32"},
                   "inbound_nodes": [mask_in]})
    if k["train"]:
        layers.append(length)
    widths = k["decoder"] + [h * w * c]
    inner, dec_w, fan = [], [], J * DO
    if not k["train"]:
        inner.append({"class_name": "InputLayer", "config": {"batch_input_shape": [None, J * DO], "dtype": "float32",
                                                             "sparse": False, "name": "input_3"}})
    for n, (units, dname) in enumerate(zip(widths, k["dense_names"])):
        act = "sigmoid" if n == len(widths) - 1 else "relu"
        inner.append(dense_config(dname, units, act, J * DO if n == 0 and k["train"] else None))
        lim = np.sqrt(6 / (fan + units))
        dec_w += [(f"{dname}/kernel:0", rng.uniform(-lim, lim, size=(fan, units))),
                  (f"{dname}/bias:0", rng.uniform(-0.1, 0.1, size=units))]
        fan = units
    inner.append({"class_name": "Reshape", "config": {"name": "out_recon", "trainable": True, "dtype": "float32",
                                                      "target_shape": [h, w, c]}})
    weights["decoder"] = dec_w
    layers.append({"class_name": "Sequential", "name": "decoder", "config": {"name": "decoder", "layers": inner},
                   "inbound_nodes": [[["mask_1", 0, 0, {}]]]})
    if not k["train"]:
        layers.append(length)
    inputs = [["input_1", 0, 0]] + ([["input_2", 0, 0]] if k["train"] else [])
    config = {"class_name": "Functional", "config": {"name": "model_1", "layers": layers, "input_layers": inputs,
                                                       "output_layers": [["capsnet", 0, 0], ["decoder", 1, 0]]}}
    weights = {n: [(wn, np.asarray(v, dtype=np.float32)) for wn, v in ws] for n, ws in weights.items()}
    return config, weights


def forward_ck(kind, weights, x):
    """x [H, W, C] float: CapsNet-Keras's evaluation model (the Mask takes the longest capsule)."""
    k = CK_KINDS[kind]
    wd = {n: {wn: v.astype(np.float64) for wn, v in ws} for n, ws in weights.items()}
    x = np.maximum(conv_nhwc(x, wd["conv1"]["conv1/kernel:0"], wd["conv1"]["conv1/bias:0"], k["conv"][2],
                             k["conv"][3]), 0)
    y = conv_nhwc(x, wd["primarycap_conv2d"]["primarycap_conv2d/kernel:0"],
                  wd["primarycap_conv2d"]["primarycap_conv2d/bias:0"], k["primary"][3], k["primary"][4])
    u = squash_ck(y.reshape(-1, k["primary"][1]))  # Reshape([-1, dim]) on the NHWC memory
    v = capsule_q7(u, wd["digitcaps"]["digitcaps/W:0"], k["routings"], squash_ck)
    scores = np.sqrt((v ** 2).sum(axis=-1) + EPS)
    masked = (v * (np.arange(len(v)) == scores.argmax())[:, None]).flatten()
    a = masked
    names = k["dense_names"]
    for n, dname in enumerate(names):
        a = a @ wd["decoder"][f"{dname}/kernel:0"] + wd["decoder"][f"{dname}/bias:0"]
        a = 1 / (1 + np.exp(-a)) if n == len(names) - 1 else np.maximum(a, 0)
    return scores, v, a  # the image as Keras's Reshape gives it: [H, W, C] row-major


def write_layers(g, config, weights, version):
    """The layer groups as Keras writes them into `g` (model_weights, or a weights file's root):
    the attributes layer_names, backend, keras_version, then a group per layer with its
    weight_names and a dataset per weight."""
    names = [layer["name"] for layer in config["config"]["layers"]]
    g.attrs["layer_names"] = np.array([n.encode() for n in names])
    g.attrs["backend"] = b"tensorflow"
    g.attrs["keras_version"] = version
    for n in names:
        lg = g.create_group(n)
        ws = weights.get(n, [])
        lg.attrs["weight_names"] = np.array([wn.encode() for wn, _ in ws])
        for wn, v in ws:
            lg.create_dataset(wn, data=v)


def write_h5(path, config, weights):
    """model.save('x.h5'): the model's JSON at the root, the layer groups under model_weights."""
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.7.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        write_layers(f.create_group("model_weights"), config, weights, b"2.7.0")


def write_weights_h5(path, config, weights):
    """model.save_weights('x.h5'): the layer groups at the root (CapsNet-Keras's trained_model.h5)."""
    with h5py.File(path, "w") as f:
        write_layers(f, config, weights, b"2.2.4")


def make_ck(out):
    for seed, kind in enumerate(CK_KINDS):
        config, weights = build_ck(kind, 200 + seed)
        write_h5(os.path.join(out, f"capsnet_keras_{kind}.h5"), config, weights)
        if kind == "mnist":
            write_weights_h5(os.path.join(out, "capsnet_keras_weights.h5"), config, weights)
            k = CK_KINDS[kind]
            arch = {"name": "capsnet-keras-tiny", "input": [1, 28, 28], "input_scale": 1 / 255, "input_offset": 0.0,
                    "conv1": {"channels": k["conv"][0], "kernel": k["conv"][1], "stride": k["conv"][2]},
                    "primary": {"channels": k["primary"][0] * k["primary"][1], "dim": k["primary"][1],
                                "kernel": k["primary"][2], "stride": k["primary"][3]},
                    "classes": k["classes"], "class_dim": k["dim"], "routings": k["routings"],
                    "decoder": k["decoder"]}
            with open(os.path.join(out, "capsnet_keras_weights.arch.json"), "w") as f:
                json.dump(arch, f, indent=1)
        h, w, c = CK_KINDS[kind]["input"]
        rng = np.random.default_rng(17 + seed)
        cases = []
        for _ in range(2):
            pixels = rng.integers(0, 256, size=(h, w, c))
            scores, poses, image = forward_ck(kind, weights, pixels / 255.0)
            cases.append({"pixels_hwc": pixels.flatten().tolist(), "scores": scores.tolist(),
                          "poses": poses.flatten().tolist(), "reconstruction_hwc": image.tolist()})
        golden = {"file": f"capsnet_keras_{kind}.h5", "input_hwc": [h, w, c], "scaling": "pixel / 255",
                  "note": "outputs of make_keras.py's forward_ck (CapsNet-Keras's layers, float64; the Mask takes "
                          "the longest capsule, as its eval_model)", "cases": cases}
        with open(os.path.join(out, f"capsnet_keras_{kind}.golden.json"), "w") as f:
            json.dump(golden, f)
        print("capsnet-keras", kind, [round(x, 3) for x in cases[0]["scores"]])


def make_malformed(out):
    """bad/*.h5: files each damaged in one way (test_capsconv.cpp names the message each must
    give): wrong types, shapes that disagree with the config, absurd sizes, missing parts."""
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    # a small network, so that each file is a few kB
    config, weights = build("tiny", 100, {"input": [12, 12, 1], "convs": [(4, 3, 1, "valid")],
                                          "primary": (2, 4, 3, 2, "valid"), "classes": 3, "dim": 4})

    def write(name, config=config, weights=weights, edit=None):
        path = os.path.join(bad, name + ".h5")
        write_h5(path, config, weights)
        if edit is not None:
            with h5py.File(path, "r+") as f:
                edit(f)

    def replace(f, path, data=None, **kw):
        del f[path]
        f.create_dataset(path, data=data, **kw)

    kern = "model_weights/conv2d/conv2d/kernel:0"
    write("int_kernel", edit=lambda f: replace(f, kern, np.zeros(f[kern].shape, dtype=np.int32)))
    write("string_kernel", edit=lambda f: replace(f, kern, np.array([b"weights"])))
    write("huge_kernel", edit=lambda f: replace(f, kern, shape=(1 << 15, 1 << 15), dtype="f4", chunks=(1, 1)))
    write("rank9_kernel", edit=lambda f: replace(f, kern, np.zeros((1,) * 9, dtype=np.float32)))
    write("missing_kernel", edit=lambda f: f.__delitem__(kern))
    write("int_weight_names", edit=lambda f: f["model_weights/conv2d"].attrs.__setitem__("weight_names",
                                                                                         np.array([1, 2])))
    write("no_layer_names", edit=lambda f: f["model_weights"].attrs.__delitem__("layer_names"))
    write("layer_without_group", edit=lambda f: f.__delitem__("model_weights/activation"))
    write("int_model_config", edit=lambda f: f.attrs.__setitem__("model_config", np.int64(7)))
    write("config_not_json", edit=lambda f: f.attrs.__setitem__("model_config", b"{\"class_name\": \"Functional\", "))
    write("weight_name_escapes", edit=lambda f: f["model_weights/conv2d"].attrs.__setitem__(
        "weight_names", np.array([b"../capsule/capsule/weights:0"])))
    # shapes that disagree with the config
    c2 = json.loads(json.dumps(config))
    c2["config"]["layers"][1]["config"]["filters"] = 17
    write("filters_disagree", config=c2)
    c3 = json.loads(json.dumps(config))
    c3["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 30, 28, 1]
    write("input_disagrees", config=c3)
    w4 = dict(weights)
    w4["capsule"] = [("capsule/weights:0", weights["capsule"][0][1][:, :-1])]
    write("capsules_disagree", weights=w4)
    # absurd sizes in the config
    c5 = json.loads(json.dumps(config))
    c5["config"]["layers"][1]["config"]["filters"] = 1 << 40
    write("filters_absurd", config=c5)
    c6 = json.loads(json.dumps(config))
    c6["config"]["layers"][0]["config"]["batch_input_shape"] = [None, 100000, 100000, 1]
    write("input_absurd", config=c6)
    c7 = json.loads(json.dumps(config))
    c7["config"]["layers"][4]["config"]["routings"] = 1000
    write("routings_absurd", config=c7)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    make_ck(out)
    make_malformed(out)
    for seed, kind in enumerate(KINDS):
        config, weights = build(kind, 100 + seed)
        write_h5(os.path.join(out, f"q7_{kind}.h5"), config, weights)
        h, w, c = KINDS[kind]["input"]
        rng = np.random.default_rng(7 + seed)
        cases = []
        for _ in range(2):
            pixels = rng.integers(0, 256, size=(h, w, c))
            scores, poses = forward(config, weights, pixels / 255.0)
            cases.append({"pixels_hwc": pixels.flatten().tolist(), "scores": scores.tolist(),
                          "poses": poses.flatten().tolist()})
        golden = {"file": f"q7_{kind}.h5", "input_hwc": [h, w, c], "scaling": "pixel / 255",
                  "note": "outputs of make_keras.py's forward pass (Keras layer semantics, float64)", "cases": cases}
        with open(os.path.join(out, f"q7_{kind}.golden.json"), "w") as f:
            json.dump(golden, f)
        print(kind, [round(s, 3) for s in cases[0]["scores"]])


if __name__ == "__main__":
    main()
