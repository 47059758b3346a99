#!/usr/bin/env bash
# The main job of README.md: installs what is missing, builds capsconv and capsrun, converts the
# shipped MNIST CapsNet checkpoint, evaluates it on the full official MNIST test set on all cores,
# draws the reconstruction grid, the misclassified inputs and the capsule-dimension figure into out/,
# then converts the same checkpoint to int8 and prints both models' accuracies and speeds side by side,
# and last classifies photo-like pictures of test digits (tests/render_photos.py: dark ink on
# paper, off-centre, tinted, noisy) as a user's photos, showing what the model sees.
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
echo
echo "== capsconv --quantize int8: the same checkpoint, calibrated on 1,000 MNIST training images"
build/release/tools/capsconv models/canonical_mnist.pt --arch canonical -o out/canonical_mnist.int8.caps \
  --quantize int8 --calib data/mnist/train-images-idx3-ubyte --calib-count 1000
echo
echo "== capsrun: the int8 model beside the float one, on the 10,000 MNIST test images"
build/release/tools/capsrun out/canonical_mnist.int8.caps \
  --idx-images data/mnist/t10k-images-idx3-ubyte --idx-labels data/mnist/t10k-labels-idx1-ubyte \
  --eval --threads "$(nproc)" --compare out/canonical_mnist.caps | sed -n '/^running/,$p'
echo
echo "== capsrun on photos: 8 test digits rendered as photos (tests/render_photos.py), the true label in each name"
rm -rf out/photos
/usr/bin/python3 tests/render_photos.py --images data/mnist/t10k-images-idx3-ubyte \
  --labels data/mnist/t10k-labels-idx1-ubyte --out out/photos --count 8 --seed 2026
build/release/tools/capsrun out/canonical_mnist.caps out/photos/*.png out/photos/*.jpg --top 2 \
  --show-input out/photos_seen.png | grep -v '^latency'

echo "== where the time goes: the per-layer profile of the int8 and the float model (capsrun --profile, 200 runs of one photo, one thread)"
build/release/tools/capsrun out/canonical_mnist.int8.caps out/photos/0000_label7.png --profile 200 \
  | sed -n '/^per-layer profile/,$p'
build/release/tools/capsrun out/canonical_mnist.caps out/photos/0000_label7.png --profile 200 \
  | sed -n '/^per-layer profile/,$p'
