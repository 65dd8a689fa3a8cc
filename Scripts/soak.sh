#!/usr/bin/env bash
# Soak test (not CI): the deployed runtime serves the real-time simulator free-running for
# STEPS steps while the simulator injects a mix of faults (drops, duplicates, re-ordered
# frames, NaN bursts, frozen sensors, stalls). Samples the runtime's RSS and open file
# descriptors, and checks at the end that
#   - no control step allocated, from the first (per-thread count: control thread + planner
#     workers; libzmq's one-time queue growth is provoked by the runtime's queue warm-up),
#   - every frame the runtime received was answered or counted (faults, drops),
#   - RSS and fd count did not grow after the first sample.
#
# Usage: Scripts/soak.sh [STEPS]      (default 1000000; ~35 min at the 2 ms period)
# Env:   PERIOD_MS (2), CONFIG (debug|release, default release), NICE (10), OUT (a temp dir)
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-1000000}
PERIOD_MS=${PERIOD_MS:-2}
CONFIG=${CONFIG:-release}
NICE=${NICE:-10}
OUT=${OUT:-$(mktemp -d /tmp/iqmpc-soak.XXXXXX)}
mkdir -p "$OUT"

swift build -c "$CONFIG" --product iqmpc-runtime 2>&1 | tail -1
swift build -c "$CONFIG" --product iqmpc-sim 2>&1 | tail -1
swift build -c "$CONFIG" --product iqmpc-train 2>&1 | tail -1
BIN=$(swift build -c "$CONFIG" --show-bin-path)

# Random tiny weights (the soak exercises the runtime, not the policy) and a calibration
# with a planning budget inside the simulator's faster pace that the tiny planner meets.
"$BIN/iqmpc-train" init --obs-dim 3 --act-dim 1 --preset tiny --nonzero-q --seed 1 --out "$OUT/w.safetensors" >/dev/null
BASE=$((20000 + RANDOM % 20000))
OBS_EP="tcp://127.0.0.1:$BASE" ACT_EP="tcp://127.0.0.1:$((BASE + 1))"
# (The spec's control period stays the task's 20 ms: --period-ms only paces the simulator.)
sed -e "s/planning_budget_ms: 12 /planning_budget_ms: $(python3 -c "print($PERIOD_MS*0.6)") /" \
    -e "s/  samples: 64 /  samples: 16 /" -e "s/  iterations: 3 /  iterations: 1 /" \
    Calibration/pendulum-swingup.yaml > "$OUT/cal.yaml"

nice -n "$NICE" "$BIN/iqmpc-sim" serve --task pendulum-swingup --mode realtime --period-ms "$PERIOD_MS" \
  --endpoint "$OBS_EP" --action-endpoint "$ACT_EP" --episodes 0 --fault-seed 7 \
  --drop 0.01 --duplicate 0.005 --reorder 0.005 --nan-burst 0.0005 --nan-burst-length 3 \
  --frozen 0.0005 --frozen-length 20 --stall 0.00002 --stall-ms 100 >"$OUT/sim.out" 2>"$OUT/sim.err" &
SIM=$!
nice -n "$NICE" "$BIN/iqmpc-runtime" run --weights "$OUT/w.safetensors" --calibration "$OUT/cal.yaml" \
  --allow-calibration-mismatch --mode free-running --observation-endpoint "$OBS_EP" --action-endpoint "$ACT_EP" \
  --telemetry-endpoint none --steps "$STEPS" >"$OUT/runtime.out" 2>"$OUT/runtime.err" &
RT=$!
trap 'kill $RT $SIM 2>/dev/null || true' EXIT

echo "soak: $STEPS steps at $PERIOD_MS ms, output in $OUT"
echo "time_s rss_kb fds" > "$OUT/samples.txt"
START=$(date +%s)
while kill -0 $RT 2>/dev/null; do
  RSS=$(awk '/VmRSS/ {print $2}' /proc/$RT/status 2>/dev/null || echo 0)
  FDS=$(ls /proc/$RT/fd 2>/dev/null | wc -l)
  [ "$RSS" != "0" ] && echo "$(( $(date +%s) - START )) $RSS $FDS" >> "$OUT/samples.txt"
  sleep 5
done
wait $RT; RC=$?
kill $SIM 2>/dev/null || true; wait $SIM 2>/dev/null || true
trap - EXIT

cat "$OUT/runtime.out"
python3 - "$OUT" "$STEPS" <<'PY'
import re, sys
out, steps = sys.argv[1], int(sys.argv[2])
text = open(f"{out}/runtime.out").read()
samples = [tuple(map(int, l.split())) for l in open(f"{out}/samples.txt").read().split("\n")[1:] if l.strip()]
ok = True
m = re.search(r"heap allocations in control steps: (\d+) over (\d+) steps[^\n]*", text)
allocs = int(m.group(1)) if m else -1
alloc_steps = re.findall(r"first allocating steps: \[([^\]]*)\]", text)
print(f"allocations in control steps: {allocs} ({m.group(0) if m else 'not reported'})")
if allocs != 0: ok = False
c = dict(re.findall(r"(frames|actions|skipped|send drops|out of order|duplicate) (\d+)", text))
answered = int(re.search(r"(\d+) steps answered", text).group(1))
frames = int(c.get("frames", 0)); dropped_ooo = int(c.get("out of order", 0)) + int(c.get("duplicate", 0))
print(f"frames received {frames}, answered {answered}, dropped out-of-order/duplicate {dropped_ooo}, "
      f"skipped (conflated) {c.get('skipped')}, send drops {c.get('send drops')}")
if answered + dropped_ooo != frames: ok = False; print("FAIL: a received frame was neither answered nor counted")
if samples:
    first, last = samples[min(1, len(samples) - 1)], samples[-1]
    rss = [s[1] for s in samples]; fds = [s[2] for s in samples]
    print(f"RSS kB: first {first[1]}, last {last[1]}, max {max(rss)}; fds: first {first[2]}, last {last[2]}, max {max(fds)}; {len(samples)} samples over {last[0]} s")
    if last[1] > first[1] * 1.05 + 1024: ok = False; print("FAIL: RSS grew")
    if max(fds) > first[2] + 2: ok = False; print("FAIL: fd count grew")
print("SOAK PASS" if ok else "SOAK FAIL")
sys.exit(0 if ok else 1)
PY
