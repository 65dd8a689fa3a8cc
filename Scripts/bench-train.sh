#!/usr/bin/env bash
# Training benchmark (not CI). From 10 expert demonstrations, trains IQ-MPC and the
# behaviour-cloning baseline on pendulum-swingup and cartpole-swingup, evaluates the
# deployed weights, and measures training throughput per preset.
#
#   Scripts/bench-train.sh                 # full run (STEPS env steps per task)
#   STEPS=20000 TASKS="pendulum-swingup" Scripts/bench-train.sh
#
# Output: bench-train/<task>/{demos.iqlog,iqmpc.safetensors,bc.safetensors,metrics.jsonl,*.log}
# and the closing table on stdout (also bench-train/summary.md).
set -euo pipefail
cd "$(dirname "$0")/.."

STEPS=${STEPS:-30000}
SEED_STEPS=${SEED_STEPS:-2500}
PRESET=${PRESET:-tiny}
BATCH=${BATCH:-256}
EVAL_EVERY=${EVAL_EVERY:-5000}
EVAL_EPISODES=${EVAL_EPISODES:-5}
PLAN_SAMPLES=${PLAN_SAMPLES:-512}
PLAN_ITERATIONS=${PLAN_ITERATIONS:-6}
BC_UPDATES=${BC_UPDATES:-5000}
TASKS=${TASKS:-"pendulum-swingup cartpole-swingup"}
OUT=${OUT:-bench-train}
export OPENBLAS_NUM_THREADS=1

swift build -c release --product iqmpc-train >/dev/null
swift build -c release --product iqmpc-sim >/dev/null
BIN=$(swift build -c release --show-bin-path)
mkdir -p "$OUT"

echo "## Training throughput (1 thread, batch $BATCH+$BATCH, H=3, 5 Q heads)"
declare -A TORCH=( [tiny]=3.3 [small]=1.7 [paper]=0.5 )
THROUGHPUT=""
for p in tiny small; do
  line=$("$BIN/iqmpc-train" bench-update --preset "$p" --batch "$BATCH" --updates "${BENCH_UPDATES:-20}" --json)
  read -r ups upc share < <(echo "$line" | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print("%.2f %.2f %.0f" % (r["updatesPerSecond"], r["updatesPerCPUSecond"], 100*r["effectiveGflops"]/r["sgemmGflops"]))')
  ratio=$(/usr/bin/python3 -c "print('%.2f' % ($ups / ${TORCH[$p]}))")
  ratioc=$(/usr/bin/python3 -c "print('%.2f' % ($upc / ${TORCH[$p]}))")
  echo "$p: $line"
  THROUGHPUT+="| $p | $ups | $upc | ${TORCH[$p]} | ${ratio}x | ${ratioc}x | ${share}% |"$'\n'
done

TABLE="| task | demos | env steps | wall time | IQ-MPC return / expert | BC return / expert | reward correlation |"$'\n'
TABLE+="|---|---|---|---|---|---|---|"$'\n'
for task in $TASKS; do
  d="$OUT/$task"; mkdir -p "$d"
  "$BIN/iqmpc-sim" record --task "$task" --expert --episodes 10 --seed 1 --out "$d/demos.iqlog" | tail -1
  start=$(date +%s)
  "$BIN/iqmpc-train" run --demos "$d/demos.iqlog" --task "$task" --calibration "Calibration/$task.yaml" \
      --preset "$PRESET" --steps "$STEPS" --seed-steps "$SEED_STEPS" --batch "$BATCH" \
      --eval-every "$EVAL_EVERY" --eval-episodes "$EVAL_EPISODES" \
      --plan-samples "$PLAN_SAMPLES" --plan-iterations "$PLAN_ITERATIONS" \
      --metrics "$d/metrics.jsonl" --checkpoint-dir "$d/ck" --out "$d/iqmpc.safetensors" --quiet | tee "$d/run.log"
  wall=$(( $(date +%s) - start ))
  "$BIN/iqmpc-train" bc --demos "$d/demos.iqlog" --calibration "Calibration/$task.yaml" --preset "$PRESET" \
      --updates "$BC_UPDATES" --batch "$BATCH" --task "$task" --eval-episodes "$EVAL_EPISODES" \
      --out "$d/bc.safetensors" | tee "$d/bc.log"
  read -r iq corr < <(/usr/bin/python3 - "$d/metrics.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"eval"' in l]
e = ev[-1]
print("%.3f %.3f" % (e["score_plan"] or float("nan"), e["reward_correlation"] or float("nan")))
PY
)
  bc=$(sed -n 's/.*prior return [0-9.-]* (\([0-9.-]*\) of expert.*/\1/p' "$d/bc.log")
  TABLE+="| $task | 10 | $STEPS | ${wall} s | $iq | $bc | $corr |"$'\n'
done

{
  echo "## Updates per second vs PyTorch 2.13 eager (same machine, 1 thread)"
  echo "| preset | updates/s (wall) | updates per CPU-s | PyTorch updates/s | ratio (wall) | ratio (CPU) | GEMM-effective / sgemm |"
  echo "|---|---|---|---|---|---|---|"
  printf "%s" "$THROUGHPUT"
  echo
  echo "## IQ-MPC vs behaviour cloning (preset $PRESET, deployed weights, ground-truth reward)"
  printf "%s" "$TABLE"
} | tee "$OUT/summary.md"
