#!/usr/bin/env bash
# Writes the C arrays the firmware programs are built from (firmware_demo/CMakeLists.txt,
# CAPSRT_FIRMWARE_ASSETS):
#   OUT/int8/fw_model.{c,h}   the small MNIST model, int8, low-memory routing, classifier only
#   OUT/float/fw_model.{c,h}  the same in float32, classifier only
#   OUT/{int8,float}/fw_assets.{c,h}  the first COUNT MNIST test images, their labels, and the
#                             classes and scores of the x86 run of that model
# with the host build's capsconv and capsfw_assets. The classifier-only models are checked to
# give the classes and scores of the models with their decoder (capsfw_assets --full).
# Usage: make_assets.sh HOST_BUILD_DIR OUT_DIR [COUNT]   (COUNT: 100 by default)
set -euo pipefail
host=${1:?host build dir}
out=${2:?output dir}
count=${3:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
ckpt=$root/models/small_mnist.pt
mnist=$root/data/mnist
mkdir -p "$out/int8" "$out/float"
conv() { "$host/tools/capsconv" "$ckpt" --arch small -q "$@"; }
conv -o "$out/int8/full.caps" --quantize int8 --calib "$mnist/train-images-idx3-ubyte" --calib-count 1000 \
  --low-memory-routing
conv -o "$out/int8/fw_model.caps" --emit-c "$out/int8/fw_model" --c-name fw_model --quantize int8 \
  --calib "$mnist/train-images-idx3-ubyte" --calib-count 1000 --low-memory-routing --no-decoder
conv -o "$out/float/full.caps"
conv -o "$out/float/fw_model.caps" --emit-c "$out/float/fw_model" --c-name fw_model --no-decoder
for kind in int8 float; do
  "$host/firmware_demo/capsfw_assets" "$out/$kind/fw_model.caps" "$mnist/t10k-images-idx3-ubyte" \
    "$mnist/t10k-labels-idx1-ubyte" "$count" "$out/$kind/fw_assets" --full "$out/$kind/full.caps"
done
