#!/usr/bin/env bash
# The main job of README.md: installs what is missing, builds, writes the canonical CapsNet
# (seeded random weights until trained checkpoints and capsconv land) and runs it with capsrun.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target capsgen capsrun >/dev/null
mkdir -p out
build/release/tools/capsgen --preset canonical --seed 1 -o out/canonical-random.caps --summary
echo
build/release/tools/capsrun out/canonical-random.caps --repeat 10
