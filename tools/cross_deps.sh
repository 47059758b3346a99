#!/usr/bin/env bash
# Fetches what an ARM cross build needs beyond Debian's cross compilers and QEMU: the target's
# Google Benchmark (for capsbench), unpacked into build/cross-sysroot/<triple>, where the
# toolchain files (toolchains/) look. Usage: bash tools/cross_deps.sh aarch64|armv7 ...
#
# The packages are downloaded with a private apt state (lists and cache under build/), so the
# machine's own apt configuration gets no foreign architecture: with one added, a plain
# `apt-get update` fails whenever the ARM lists lag the amd64 ones (seen on these machines).
# Without network or with a lagging mirror the script says so and exits 0: the cross build then
# skips capsbench and still builds and tests the runtime.
set -uo pipefail
cd "$(dirname "$0")/.."
for target in "$@"; do
  case "$target" in
    aarch64) arch=arm64 triple=aarch64-linux-gnu ;;
    armv7) arch=armhf triple=arm-linux-gnueabihf ;;
    *) echo "cross_deps: unknown target $target (aarch64, armv7)" >&2; exit 1 ;;
  esac
  sysroot=build/cross-sysroot/$triple
  if [ -f "$sysroot/usr/lib/$triple/cmake/benchmark/benchmarkConfig.cmake" ]; then
    continue
  fi
  state=build/cross-apt/$arch
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial" "$sysroot"
  : > "$state/status"
  apt_opts=(-o "APT::Architecture=$arch" -o "APT::Architectures::=$arch" -o "Dir::State::Lists=$PWD/$state/lists"
            -o "Dir::Cache=$PWD/$state/cache" -o "Dir::State::status=$PWD/$state/status" -qq)
  apt-get "${apt_opts[@]}" update >/dev/null 2>&1 || true  # a lagging list for another suite is fine
  debs=$(mktemp -d)
  if (cd "$debs" && apt-get "${apt_opts[@]}" download libbenchmark-dev libbenchmark1debian >/dev/null 2>&1); then
    for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$sysroot"; done
    echo "cross_deps: Google Benchmark for $triple in $sysroot"
  else
    echo "cross_deps: could not download Google Benchmark for $arch: capsbench will not be built for $target"
  fi
  rm -rf "$debs"
done
exit 0
