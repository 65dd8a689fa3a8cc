#!/usr/bin/env bash
# The planner and the training update beside PyTorch doing the same work, measured in this
# one invocation on the same core: `iqmpc-runtime bench` against torch_iqmpc.py plan (one MPPI
# call, two Q heads per Q call), `iqmpc-train bench-update` against torch_iqmpc.py update (one
# IQ-MPC update: all K heads in the IQ loss, two elsewhere). One thread on both sides.
#
#   Scripts/reference/vs-torch.sh                    (presets tiny small; CPU=1 pins to core 1)
#   PRESETS="tiny small paper" COUNT=20 Scripts/reference/vs-torch.sh
#
# Torch lives in a venv, optional for everything else: IQMPC_TORCH_VENV (default .venv-torch)
# must hold `bin/python` with torch importable; Scripts/reference/setup-venv.sh creates one
# (CPU-only torch). Without it the script prints the Swift figures and says the comparison
# was skipped.
#
# Output: one line per preset and workload with both figures and their ratio (Swift's speed
# over PyTorch's: above 1, Swift is faster), wall-clock and per CPU-second (the CPU figures
# hold when other processes share the core; the wall figures do not), plus the JSON each side
# printed, under $OUT (default vs-torch/).
set -euo pipefail
cd "$(dirname "$0")/../.."
PRESETS=${PRESETS:-"tiny small"}
COUNT=${COUNT:-20}
OBS=${OBS_DIM:-24}; ACT=${ACT_DIM:-6}; BATCH=${BATCH:-256}
OUT=${OUT:-vs-torch}
VENV=${IQMPC_TORCH_VENV:-.venv-torch}
PY="$VENV/bin/python"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
PIN=()
if [ -n "${CPU:-}" ]; then PIN=(taskset -c "$CPU"); fi
mkdir -p "$OUT"

# BIN=dir: use iqmpc-runtime and iqmpc-train already built there (e.g. .build/debug: the numeric
# modules are optimised in every configuration, see Package.swift).
if [ -z "${BIN:-}" ]; then
  swift build -c release --product iqmpc-runtime >/dev/null
  swift build -c release --product iqmpc-train >/dev/null
  BIN=$(swift build -c release --show-bin-path)
fi

torch_ok=0
if [ -x "$PY" ] && "$PY" -c 'import torch' 2>/dev/null; then
  torch_ok=1
  echo "torch $("$PY" -c 'import torch; print(torch.__version__)') from $VENV"
else
  echo "SKIPPED the PyTorch side: no torch in $VENV (set IQMPC_TORCH_VENV; see the header of $0)"
fi
field() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }
ratio() { /usr/bin/python3 -c "print('%.2f' % ($1 / $2))"; }

for p in $PRESETS; do
  w="$OUT/$p.safetensors"
  "$BIN/iqmpc-train" init --obs-dim "$OBS" --act-dim "$ACT" --preset "$p" --seed 1 --nonzero-q --out "$w" >/dev/null
  # Planner: 512 samples x 6 iterations x H 3, one thread, median plan time.
  "${PIN[@]}" "$BIN/iqmpc-runtime" bench --weights "$w" --threads 1 --steps "$COUNT" --json > "$OUT/$p-plan-swift.json"
  swift_plan=$(field "$OUT/$p-plan-swift.json" p50_us); swift_plan_cpu=$(field "$OUT/$p-plan-swift.json" cpu_p50_us)
  # Update: batch B+B, H 3, 5 heads, one thread.
  "${PIN[@]}" "$BIN/iqmpc-train" bench-update --preset "$p" --obs-dim "$OBS" --act-dim "$ACT" --batch "$BATCH" \
      --updates "$COUNT" --json > "$OUT/$p-update-swift.json"
  swift_ups=$(field "$OUT/$p-update-swift.json" updatesPerSecond); swift_upc=$(field "$OUT/$p-update-swift.json" updatesPerCPUSecond)
  if [ "$torch_ok" = 1 ]; then
    "${PIN[@]}" "$PY" Scripts/reference/torch_iqmpc.py plan --preset "$p" --obs-dim "$OBS" --act-dim "$ACT" \
        --count "$COUNT" > "$OUT/$p-plan-torch.json"
    "${PIN[@]}" "$PY" Scripts/reference/torch_iqmpc.py update --preset "$p" --obs-dim "$OBS" --act-dim "$ACT" \
        --batch "$BATCH" --count "$COUNT" > "$OUT/$p-update-torch.json"
    torch_plan=$(field "$OUT/$p-plan-torch.json" p50_us); torch_plan_cpu=$(field "$OUT/$p-plan-torch.json" cpu_p50_us)
    torch_ups=$(field "$OUT/$p-update-torch.json" updates_per_second); torch_upc=$(field "$OUT/$p-update-torch.json" updates_per_cpu_second)
    printf '%s plan: wall p50 swift %.0f us, torch %.0f us (%sx); CPU p50 swift %.0f us, torch %.0f us (%sx)\n' "$p" \
        "$swift_plan" "$torch_plan" "$(ratio "$torch_plan" "$swift_plan")" "$swift_plan_cpu" "$torch_plan_cpu" "$(ratio "$torch_plan_cpu" "$swift_plan_cpu")"
    printf '%s update: wall swift %.2f, torch %.2f updates/s (%sx); per CPU-second swift %.2f, torch %.2f (%sx)\n' "$p" \
        "$swift_ups" "$torch_ups" "$(ratio "$swift_ups" "$torch_ups")" "$swift_upc" "$torch_upc" "$(ratio "$swift_upc" "$torch_upc")"
  else
    printf '%s plan: swift p50 %.0f us (torch skipped)\n' "$p" "$swift_plan"
    printf '%s update: swift %.2f updates/s (torch skipped)\n' "$p" "$swift_ups"
  fi
done
