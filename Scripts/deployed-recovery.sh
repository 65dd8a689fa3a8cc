#!/bin/bash
# One weights file as deployed, the two numbers issue #14 asks about side by side:
#  1. policy prior vs planning, 10 lockstep episodes each (Scripts/prior-vs-plan.sh: the
#     calibration's planner and budget, episode seeds 1000-1009, NICE=-5 so the runtime's
#     timing reflects the planner rather than other jobs);
#  2. reward recovery (`iqmpc-train reward-recovery`) over the demonstrations, 5 planning and
#     5 prior episodes recorded in real time (`iqmpc-sim serve --mode realtime --record`,
#     seeds 2000-2004, runtime free-running) and a random-policy record.
# Writes OUTDIR/deployed.txt, recovery.txt, recovery.json, series.csv and the two records.
#
#   Scripts/deployed-recovery.sh WEIGHTS OUTDIR TASK DEMOS RANDOM_LOG [PORT=5850]
# Environment: BIN (default .build/release), LOCKSTEP=0 (recovery only, no part 1).
# The random-policy record: iqmpc-sim record --task TASK --expert --policy random --episodes 5 --seed 101 --out R
set -euo pipefail
W=$1 D=$2 TASK=$3 DEMOS=$4 RANDOM_LOG=$5 P=${6:-5850}
BIN=${BIN:-.build/release}
cd "$(dirname "$0")/.."
mkdir -p "$D"
# LOCKSTEP=0 skips part 1 for callers that deploy the weights themselves (Scripts/seed-study.sh).
if [ "${LOCKSTEP:-1}" = 1 ]; then
  NICE=-5 BIN=$BIN Scripts/prior-vs-plan.sh "$TASK" "$W" 10 1000 "$P" > "$D/deployed.txt"
fi
for mode in plan prior; do
  flags=()
  [ $mode = prior ] && flags=(--policy-prior-only)
  "$BIN/iqmpc-sim" serve --task "$TASK" --mode realtime --seed 2000 --episodes 5 \
      --endpoint tcp://127.0.0.1:$((P+1)) --action-endpoint tcp://127.0.0.1:$((P+2)) --record "$D/$mode.iqlog" \
      > "$D/$mode.sim" 2>&1 &
  sim=$!
  nice -n -5 "$BIN/iqmpc-runtime" run --weights "$W" --calibration "Calibration/$TASK.yaml" --mode free-running \
      --observation-endpoint tcp://127.0.0.1:$((P+1)) --action-endpoint tcp://127.0.0.1:$((P+2)) \
      --telemetry-endpoint none --log-level warning "${flags[@]}" > "$D/$mode.rt" 2>&1 &
  rt=$!
  wait $sim
  kill -INT $rt 2>/dev/null || true
  wait $rt || true
done
"$BIN/iqmpc-train" reward-recovery --weights "$W" --calibration "Calibration/$TASK.yaml" --log "$DEMOS" \
    --log "$D/plan.iqlog" --log "$D/prior.iqlog" --log "$RANDOM_LOG" --series "$D/series.csv" \
    --json-out "$D/recovery.json" > "$D/recovery.txt"
[ "${LOCKSTEP:-1}" = 1 ] && cat "$D/deployed.txt"
cat "$D/recovery.txt"
