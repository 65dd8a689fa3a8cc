#!/bin/bash
# Deployed policy prior vs deployed planning for one weights file: `iqmpc-sim serve` (lockstep)
# and `iqmpc-runtime run` as two processes, the calibration's planner and budget, the same
# episode seeds for both. Prints each mode's per-episode returns, mean ± standard error, and
# how many steps the planner (rather than its prior fallback) answered, and the paired
# difference planning − prior over the shared seeds.
#
#   Scripts/prior-vs-plan.sh TASK WEIGHTS [EPISODES=10] [SEED=1000] [PORT=5810] [CALIBRATION]
# Environment: BIN (default .build/debug), NICE (default 0: the runtime is timed),
# RUNTIME_FLAGS (extra flags for iqmpc-runtime run, e.g. --allow-calibration-mismatch).
set -euo pipefail
task=$1 weights=$2 episodes=${3:-10} seed=${4:-1000} port=${5:-5810}
cal=${6:-Calibration/$task.yaml}
BIN=${BIN:-.build/debug}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run_mode() { # name extra-runtime-flags...
  local name=$1; shift
  local ep=tcp://127.0.0.1:$port
  "$BIN/iqmpc-sim" serve --task "$task" --mode lockstep --seed "$seed" --episodes "$episodes" \
      --endpoint "$ep" > "$out/$name.sim" 2>&1 &
  local sim=$!
  nice -n "${NICE:-0}" "$BIN/iqmpc-runtime" run --weights "$weights" --calibration "$cal" --mode lockstep \
      --observation-endpoint "$ep" --telemetry-endpoint none --log-level warning "$@" > "$out/$name.rt" 2>&1 &
  local rt=$! first status=0
  # Whichever ends first decides: a simulator that gives up (e.g. its handshake was refused
  # because the calibration does not describe the plant) would otherwise leave the runtime
  # waiting for a plant that never comes back.
  wait -n -p first $sim $rt || status=$?
  if [ "$first" = "$sim" ] && [ $status -ne 0 ]; then
    kill -TERM $rt 2>/dev/null || true; wait $rt || true
    echo "iqmpc-sim failed ($name):" >&2; cat "$out/$name.sim" "$out/$name.rt" >&2; exit 1
  fi
  if [ "$first" = "$rt" ] && [ $status -ne 0 ]; then
    kill -TERM $sim 2>/dev/null || true; wait $sim || true
    echo "iqmpc-runtime failed ($name):" >&2; cat "$out/$name.rt" >&2; exit 1
  fi
  if [ "$first" = "$sim" ]; then
    wait $rt || { echo "iqmpc-runtime failed ($name):" >&2; cat "$out/$name.rt" >&2; exit 1; }
  else
    wait $sim || true
  fi
}

run_mode prior --policy-prior-only ${RUNTIME_FLAGS:-}
run_mode plan ${RUNTIME_FLAGS:-}
/usr/bin/python3 - "$out" "$task" "$weights" <<'PY'
import re, sys, statistics as st
out, task, weights = sys.argv[1:4]
runs = {}
for name in ("prior", "plan"):
    sim = open(f"{out}/{name}.sim").read()
    rt = open(f"{out}/{name}.rt").read()
    r = [float(x) for x in re.findall(r"episode \d+ return ([-0-9.]+)", sim)]
    m = re.search(r"answered \(planner (\d+), policy prior (\d+), safe (\d+)\)", rt)
    se = st.stdev(r) / len(r) ** 0.5 if len(r) > 1 else float("nan")
    print(f"{task} {name:5s}: {st.mean(r):8.2f} ± {se:6.2f} (s.e.) over {len(r)} episodes; "
          f"steps: planner {m.group(1) if m else '?'}, prior {m.group(2) if m else '?'}, safe {m.group(3) if m else '?'}")
    print("   returns: " + " ".join(f"{x:.1f}" for x in r))
    runs[name] = r
# Both modes start from the same episode seeds, so the per-episode difference cancels the
# seeds' own spread: its standard error is the one that says whether planning beats the prior.
d = [b - a for a, b in zip(runs["prior"], runs["plan"])]
if len(d) > 1 and len(runs["prior"]) == len(runs["plan"]):
    print(f"{task} paired plan - prior: {st.mean(d):+8.2f} ± {st.stdev(d) / len(d) ** 0.5:6.2f} (s.e.) over {len(d)} episodes")
PY
