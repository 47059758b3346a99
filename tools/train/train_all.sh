#!/usr/bin/env bash
# Trains the four shipped models one after the other (2 cores: one job at a time). Resumable:
# each job keeps its per-epoch state in $STATE (outside the repo); a finished job (its final
# state_dict exists in models/) is skipped. Logs go to $STATE/<job>.log.
#   bash tools/train/train_all.sh            # STATE defaults to /work/capsrt-train
set -uo pipefail
cd "$(dirname "$0")/../.."
STATE=${STATE:-/work/capsrt-train}
mkdir -p "$STATE" models
bash tools/data/get_data.sh
run() {  # job arch dataset epochs [more train.py options]
  local job=$1 arch=$2 dataset=$3 epochs=$4
  shift 4
  [ -f "models/$job.pt" ] && { echo "$job: done already"; return 0; }
  echo "$job: training ($epochs epochs), log in $STATE/$job.log"
  /usr/bin/python3 tools/train/train.py --arch "$arch" --dataset "$dataset" --epochs "$epochs" "$@" \
    --state "$STATE/$job" --final "models/$job.pt" >> "$STATE/$job.log" 2>&1
}
run small_mnist small mnist 15
# The small net underfits Fashion-MNIST with the paper's recipe (87.9% on the test set, 88.6% on
# its own training images after 15 epochs): no shifts, a slower learning-rate decay and 30 epochs,
# chosen on 5,000 held-out training images (docs/models.md).
run small_fashion small fashion 30 --shift 0 --lr-decay 0.95 --val 5000
run canonical_mnist canonical mnist 15
run canonical_fashion canonical fashion 6
