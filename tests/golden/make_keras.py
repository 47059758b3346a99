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

    make_keras.py OUT_DIR     # writes q7_<kind>.h5 and q7_<kind>.golden.json for each kind
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


def capsule_q7(u, W, routings):
    """Q7-CapsNets' Capsule: u [I, DI], W [J, I, DO, DI]; softmax over the J classes."""
    u_hat = np.einsum("jidk,ik->jid", W, u)
    b = np.zeros(u_hat.shape[:2])
    for r in range(routings):
        c = np.exp(b - b.max(axis=0, keepdims=True))
        c /= c.sum(axis=0, keepdims=True)
        v = squash_q7(np.einsum("ji,jid->jd", c, u_hat))
        if r < routings - 1:
            b = b + np.einsum("jid,jd->ji", u_hat, v)
    return v


def build(kind, seed):
    k = KINDS[kind]
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
    W = rng.normal(0, 1, size=(J, n_in, DO, dim)) * {"mnist": 0.12, "cifar": 2.0, "norb": 0.15}[kind]
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


def write_h5(path, config, weights):
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.7.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(config).encode("utf8")
        g = f.create_group("model_weights")
        names = [layer["name"] for layer in config["config"]["layers"]]
        g.attrs["layer_names"] = np.array([n.encode() for n in names])
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.7.0"
        for n in names:
            lg = g.create_group(n)
            ws = weights.get(n, [])
            lg.attrs["weight_names"] = np.array([wn.encode() for wn, _ in ws])
            for wn, v in ws:
                lg.create_dataset(wn, data=v)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
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
