#!/usr/bin/env bash
# Deadline overshoot per plan under CPU contention: what an isolated core and SCHED_FIFO buy
# (docs/planner-performance.md, "What an isolated core and SCHED_FIFO buy"). Not part of the
# test suite: about a minute of CPU (a spinning hog included).
#
# Usage: Scripts/deadline-contention.sh [STEPS]      (default 300 timed steps per case)
# Env:   CPU (core to share, default the last one), BUDGET_MS (default 8), PERIOD_MS (default 16),
#        SAMPLES (default 64, up to 6 iterations: more MPPI work than fits, so plans run up to
#        the deadline),
#        CONFIG (release), OUT (scratch directory).
#
# Every case runs `iqmpc-runtime check-budget --paced` (one step per control period, sleeping in
# between as in service) pinned to CPU with `taskset`; the planner has one thread. Cases:
#   alone        nothing else pinned to CPU (on a shared machine other jobs still float onto it)
#   hog-ms       a CPU hog inside the control thread before every plan (--hog-ms, half the budget)
#   process      another process spinning on CPU, both at normal priority
#   process+fifo the same, the runtime under SCHED_FIFO (chrt -f 80)
#   alone+fifo   nothing else pinned, SCHED_FIFO
# Each prints check-budget's deadline line: plans that ended past their deadline (frame
# arrival + budget) and the overshoot per plan (0 when on time) p50/p99/max, then the step time. SCHED_FIFO needs root or CAP_SYS_NICE.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-300}
CPU=${CPU:-$(( $(nproc) - 1 ))}
BUDGET_MS=${BUDGET_MS:-8}
PERIOD_MS=${PERIOD_MS:-16}
SAMPLES=${SAMPLES:-64}
CONFIG=${CONFIG:-release}
OUT=${OUT:-$(mktemp -d /tmp/iqmpc-contention.XXXXXX)}
mkdir -p "$OUT"

swift build -c "$CONFIG" --product iqmpc-runtime 2>&1 | tail -1
swift build -c "$CONFIG" --product iqmpc-train 2>&1 | tail -1
BIN=$(swift build -c "$CONFIG" --show-bin-path)
"$BIN/iqmpc-train" init --obs-dim 3 --act-dim 1 --preset tiny --nonzero-q --seed 1 --out "$OUT/w.safetensors" >/dev/null
sed -e "s/control_period_ms: 20 /control_period_ms: $PERIOD_MS /" -e "s/planning_budget_ms: 12 /planning_budget_ms: $BUDGET_MS /" \
    -e "s/  samples: 64 /  samples: $SAMPLES /" -e "s/  iterations: 3 /  iterations: 6 /" \
    Calibration/pendulum-swingup.yaml > "$OUT/cal.yaml"

HOG=""
stop_hog() { if [ -n "$HOG" ]; then kill "$HOG" 2>/dev/null || true; wait "$HOG" 2>/dev/null || true; HOG=""; fi; }
trap stop_hog EXIT
start_hog() { taskset -c "$CPU" bash -c 'while :; do :; done' & HOG=$!; sleep 0.2; }

FIFO=()
if chrt -f 80 true 2>/dev/null; then FIFO=(chrt -f 80); else echo "SCHED_FIFO not permitted here: the fifo cases run at normal priority"; fi

run_case() { # label [prefix...] -- [check-budget flags...]
  local label=$1; shift
  local prefix=()
  while [ "$1" != "--" ]; do prefix+=("$1"); shift; done; shift
  local out
  out=$("${prefix[@]}" taskset -c "$CPU" "$BIN/iqmpc-runtime" check-budget --weights "$OUT/w.safetensors" \
        --calibration "$OUT/cal.yaml" --allow-calibration-mismatch --budget-ms "$BUDGET_MS" --steps "$STEPS" --paced "$@" 2>/dev/null || true)
  printf '%-13s %s\n' "$label" "$(grep '^deadline:' <<<"$out")"
  printf '%-13s %s\n' "" "$(grep '  step ' <<<"$out" | sed 's/^ *//')"
  printf '%-13s %s\n' "" "$(grep '^planner answered' <<<"$out")"
}

echo "deadline-contention: $STEPS steps per case, budget $BUDGET_MS ms, period $PERIOD_MS ms, $SAMPLES samples, CPU $CPU, load $(cut -d' ' -f1-3 /proc/loadavg)"
run_case alone -- 
run_case hog-ms -- --hog-ms "$(python3 -c "print($BUDGET_MS / 2)")"
start_hog; run_case process -- ; stop_hog
start_hog; run_case process+fifo "${FIFO[@]}" -- ; stop_hog
run_case alone+fifo "${FIFO[@]}" --
