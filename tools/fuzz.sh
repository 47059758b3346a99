#!/usr/bin/env bash
# Runs one fuzz target of tests/fuzz/ with libFuzzer for SECONDS, with its seeds, dictionary and
# limits, then merges what it found into its corpus and prints executions, coverage and crashes.
#
#   tools/fuzz.sh TARGET SECONDS [JOBS]     e.g. tools/fuzz.sh model 3600 1
#   tools/fuzz.sh --list                    the targets
#   tools/fuzz.sh --build                   only build every target (and capsconv) and the seed corpora
#   tools/fuzz.sh --report                  per target: runs, executions and time summed over
#                                           runs.tsv, the edges and features its corpus reaches
#
# Builds build/fuzz (clang-14, -DCAPSRT_FUZZ=ON) if needed. Work stays in $CAPSRT_FUZZ_WORK
# (default build/fuzz/work): corpus/TARGET (kept between runs), artifacts/TARGET (crashes,
# hangs, out-of-memory inputs: copy each to tests/fuzz/regressions/TARGET/ with its fix), and
# runs.tsv (one line a run: the figures docs/reliability.md reports). Without JOBS libFuzzer
# stops at the first crash (exit status 1); with JOBS it runs that many fuzzing processes on the
# shared corpus (-fork) and goes on after crashes, hangs and out-of-memory inputs, collecting
# them all (for long unattended runs). CAPSRT_FUZZ_BUILD overrides the build folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${CAPSRT_FUZZ_BUILD:-$root/build/fuzz}
targets=(model model_shapes torch_zip torch_legacy safetensors pickle convert image idx npy keras_h5)
if [[ ${1:-} == --list ]]; then printf '%s\n' "${targets[@]}"; exit 0; fi
configure() {
  [[ -f $build/CMakeCache.txt ]] && return
  command -v clang++-14 >/dev/null || { echo "fuzz.sh: clang-14 is needed (apt-get install clang-14 libclang-rt-14-dev)"; exit 2; }
  CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -DCAPSRT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
}
if [[ ${1:-} == --build ]]; then
  configure
  # The fuzz programs and capsconv (for the seeds): not the other tools, which nothing fuzzes.
  cmake --build "$build" -j"$(nproc)" --target "${targets[@]/#/fuzz_}" capsconv >/dev/null
  bash "$root/tools/fuzz_seeds.sh" "$build/seeds" "$build/tools/capsconv"
  exit 0
fi
if [[ ${1:-} == --report ]]; then
  work=${CAPSRT_FUZZ_WORK:-$build/work}
  printf '| target | runs | fuzzing time | executions | corpus | edges | features | findings |\n'
  printf '|---|---|---|---|---|---|---|---|\n'
  for t in "${targets[@]}"; do
    [[ -f $work/runs.tsv ]] || break
    read -r runs secs execs < <(awk -F'\t' -v t="$t" '$2 == t {n++; s += $3; e += $4}
      END {printf "%d %d %d\n", n, s, e}' "$work/runs.tsv")
    # findings: the distinct inputs kept in artifacts/ (a run's line counts only its new ones)
    found=$(find "$work/artifacts/$t" -type f 2>/dev/null | wc -l)
    ((runs)) || continue
    # the corpus replayed once: what it reaches now, counted the same way for every target
    line=$("$build/tests/fuzz/fuzz_$t" -runs=0 -max_len=1048576 "$work/corpus/$t" 2>&1 | grep -E 'INITED|DONE' | tail -1)
    files=$(find "$work/corpus/$t" -type f | wc -l)
    printf '| %s | %d | %d min | %s | %d files | %s | %s | %d |\n' "$t" "$runs" $((secs / 60)) \
      "$execs" "$files" "$(grep -oE 'cov: [0-9]+' <<<"$line" | awk '{print $2}')" \
      "$(grep -oE 'ft: [0-9]+' <<<"$line" | awk '{print $2}')" "$found"
  done
  exit 0
fi
if (($# < 2)); then sed -n '2,19p' "$0"; exit 2; fi
target=$1 seconds=$2 jobs=${3:-0}
printf '%s\n' "${targets[@]}" | grep -qx "$target" || { echo "fuzz.sh: unknown target $target (--list)"; exit 2; }
work=${CAPSRT_FUZZ_WORK:-$build/work}

# Per target: dictionary files (tests/fuzz/dict/) and the default longest input. The longest
# input is raised to the largest seed's size, so libFuzzer never truncates a real file.
case $target in
  model) dicts="caps" maxlen=65536 ;;
  model_shapes) dicts="" maxlen=256 ;;
  torch_zip) dicts="zip pickle" maxlen=131072 ;;
  torch_legacy) dicts="pickle" maxlen=131072 ;;
  safetensors) dicts="safetensors" maxlen=65536 ;;
  pickle) dicts="pickle" maxlen=65536 ;;
  convert) dicts="" maxlen=512 ;;
  image) dicts="image" maxlen=65536 ;;
  idx) dicts="idx" maxlen=65536 ;;
  npy) dicts="npy" maxlen=4096 ;;
  # (the reader stops libhdf5 itself: at 5 s here, below libFuzzer's 10-s slow-unit report, so
  # that a contained libhdf5 loop is neither written out as a finding nor costs 20 s a time)
  keras_h5) dicts="" maxlen=262144 hang=30 hdf5_seconds=5 ;;
esac

configure
[[ -n ${CAPSRT_FUZZ_NO_BUILD:-} ]] || cmake --build "$build" -j"$(nproc)" --target "fuzz_$target" capsconv >/dev/null
seeds=$build/seeds
# (under a lock: several runs may start at once)
(
  flock 9
  [[ -d $seeds/$target ]] || bash "$root/tools/fuzz_seeds.sh" "$seeds" "$build/tools/capsconv" >/dev/null
) 9>"$build/seeds.lock"
corpus=$work/corpus/$target artifacts=$work/artifacts/$target
mkdir -p "$corpus" "$artifacts"
largest=$(find "$seeds/$target" "$corpus" -type f -printf '%s\n' | sort -n | tail -1)
((${largest:-0} > maxlen)) && maxlen=$largest
dict_args=()
if [[ -n $dicts ]]; then
  mkdir -p "$work/dict"
  for d in $dicts; do cat "$root/tests/fuzz/dict/$d.dict"; done > "$work/dict/$target.dict"
  dict_args=(-dict="$work/dict/$target.dict")
fi
fork_args=()
((jobs > 0)) && fork_args=(-fork="$jobs" -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)

# First the regression inputs, each as a file (so none is cut to max_len): all must pass.
mapfile -t regressions < <(find "$root/tests/fuzz/regressions/$target" -type f ! -name README.md | sort)
if ((${#regressions[@]})); then
  # (a kept libhdf5 hang input stops at 2 s here, not the reader's 20)
  if ! CAPSCONV_HDF5_SECONDS=2 "$build/tests/fuzz/fuzz_$target" "${regressions[@]}" >"$work/$target.regressions.log" 2>&1; then
    echo "fuzz.sh: $target: a regression input fails again: see $work/$target.regressions.log"
    tail -20 "$work/$target.regressions.log"
    exit 1
  fi
fi
log=$work/$target.log
echo "fuzz.sh: $target for $seconds s (max_len $maxlen, $((jobs > 0 ? jobs : 1)) job(s)); log $log"
# -timeout: an input running 10 s is a hang; -rss_limit_mb: 2 GiB is an out-of-memory finding
# (readers must stay far below, docs/reliability.md); -malloc_limit_mb likewise per allocation.
stamp=$work/$target.started
touch "$stamp"
if [[ -n ${hdf5_seconds:-} ]]; then export CAPSCONV_HDF5_SECONDS=$hdf5_seconds; fi
set +e
started=$SECONDS
"$build/tests/fuzz/fuzz_$target" "$corpus" "$seeds/$target" -max_total_time="$seconds" \
  -max_len="$maxlen" -timeout="${hang:-10}" -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "${dict_args[@]}" "${fork_args[@]}" >"$log" 2>&1
status=$?
ran=$((SECONDS - started))  # a run that stops at a finding is shorter than asked
set -e
# Merge: the corpus keeps one input per feature found (also minimises what this run added).
merged=$work/merge.$target
rm -rf "$merged"
mkdir -p "$merged"
"$build/tests/fuzz/fuzz_$target" -merge=1 -max_len="$maxlen" -timeout="${hang:-10}" -rss_limit_mb=2048 \
  "$merged" "$corpus" "$seeds/$target" >"$work/$target.merge.log" 2>&1 || true
if [[ -n $(ls -A "$merged") ]]; then rm -rf "$corpus"; mv "$merged" "$corpus"; else rm -rf "$merged"; fi

# Figures: executions from the final stats (summed over jobs with -fork), edges and features
# from the last status line, and what artifacts there are.
if ((jobs > 0)); then
  execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
else
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
fi
line=$(grep -E 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
cov=$(grep -oE 'cov: [0-9]+' <<<"$line" | awk '{print $2}')
ft=$(grep -oE 'ft: [0-9]+' <<<"$line" | awk '{print $2}')
merged_cov=$(grep -oE 'cov: [0-9]+' "$work/$target.merge.log" | tail -1 | awk '{print $2}')
found=$(find "$artifacts" -type f -newer "$stamp" | wc -l)  # this run's findings
files=$(find "$corpus" -type f | wc -l)
printf '%s\t%s\t%s s\t%s executions\tcov %s\tft %s\tcorpus %s files\t%s new artifacts\n' "$(date -u +%F)" \
  "$target" "$ran" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$files" "$found" | tee -a "$work/runs.tsv"
[[ -n $merged_cov ]] && echo "corpus after merge covers $merged_cov edges"
if ((found > 0)); then
  echo "new artifacts (replay one: build/fuzz/tests/fuzz/fuzz_$target FILE):"
  find "$artifacts" -type f -newer "$stamp" | sed 's/^/  /'
fi
if ((status != 0)) && ((jobs == 0)); then
  echo "fuzz.sh: libFuzzer stopped with status $status: tail of $log:"
  tail -30 "$log"
  exit 1
fi
