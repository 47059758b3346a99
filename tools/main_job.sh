#!/usr/bin/env bash
# The main job of README.md: installs what is missing, builds capsconv and capsrun, converts the
# shipped MNIST CapsNet checkpoint, evaluates it on the full official MNIST test set on all cores,
# and draws the reconstruction grid, the misclassified inputs and the capsule-dimension figure into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
bash tools/data/get_data.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target capsconv capsrun >/dev/null
mkdir -p out
echo "== capsconv: models/canonical_mnist.pt -> out/canonical_mnist.caps"
build/release/tools/capsconv models/canonical_mnist.pt --arch canonical -o out/canonical_mnist.caps --summary
echo
echo "== capsrun: the 10,000 images of the MNIST test set"
build/release/tools/capsrun out/canonical_mnist.caps \
  --idx-images data/mnist/t10k-images-idx3-ubyte --idx-labels data/mnist/t10k-labels-idx1-ubyte \
  --eval --threads "$(nproc)" --recon-grid out/reconstructions.png --errors-grid out/misclassified.png \
  --dims-figure out/capsule_dimensions.png
